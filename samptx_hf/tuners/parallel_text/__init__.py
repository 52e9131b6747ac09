"""The Parallel-Text adapter of SAM-PTx as a PEFT method, registered with peft on import."""

from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING, PEFT_TYPE_TO_PREFIX_MAPPING, PEFT_TYPE_TO_TUNER_MAPPING

from .conditioning import checkpoint_with_text_conditioning, current_text_embeds, text_conditioning
from .config import (
    PYTORCH_INIT,
    SAM_VISION_ATTENTION_PATTERN,
    SAM_VISION_MLP_PATTERN,
    ParallelTextConfig,
    SamPtxPeftType,
    TextPath,
)
from .layer import ParallelTextAttentionLayer, ParallelTextLayer
from .model import ParallelTextModel


def register_parallel_text() -> None:
    """Enter the method in peft's registries, so that peft's own entry points know it.

    `peft.register_peft_method` only accepts names of peft's closed `PeftType` enum, so the entries are made
    directly, keyed by a project-owned `str` enum member (peft calls `peft_type.value`; JSON holds the string,
    which hashes and compares equal to the member).
    """
    peft_type = SamPtxPeftType.PARALLEL_TEXT
    PEFT_TYPE_TO_CONFIG_MAPPING[peft_type] = ParallelTextConfig
    PEFT_TYPE_TO_TUNER_MAPPING[peft_type] = ParallelTextModel
    PEFT_TYPE_TO_PREFIX_MAPPING[peft_type] = ParallelTextModel.prefix


register_parallel_text()

__all__ = [
    "PYTORCH_INIT",
    "SAM_VISION_ATTENTION_PATTERN",
    "SAM_VISION_MLP_PATTERN",
    "ParallelTextAttentionLayer",
    "ParallelTextConfig",
    "ParallelTextLayer",
    "ParallelTextModel",
    "SamPtxPeftType",
    "TextPath",
    "checkpoint_with_text_conditioning",
    "current_text_embeds",
    "register_parallel_text",
    "text_conditioning",
]
