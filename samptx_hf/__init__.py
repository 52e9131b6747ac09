"""samptx_hf: SAM-PTx, text-guided parameter-efficient fine-tuning of Segment Anything, for Hugging Face.

Importing the package registers `SamPtxConfig`/`SamPtxForTextSegmentation` with transformers' Auto classes and
the Parallel-Text adapter with peft.
"""

from transformers import AutoConfig, AutoModel

from .configuration_samptx import SamPtxConfig, TextInjection
from .losses import sam_segmentation_loss
from .modeling_samptx import SamPtxForTextSegmentation, SamPtxPreTrainedModel, SamPtxSegmentationOutput
from .tuners.parallel_text import (
    ParallelTextConfig,
    ParallelTextLayer,
    ParallelTextModel,
    SamPtxPeftType,
    text_conditioning,
)

AutoConfig.register(SamPtxConfig.model_type, SamPtxConfig, exist_ok=True)
AutoModel.register(SamPtxConfig, SamPtxForTextSegmentation, exist_ok=True)

__version__ = "0.1.0"

__all__ = [
    "ParallelTextConfig",
    "ParallelTextLayer",
    "ParallelTextModel",
    "SamPtxConfig",
    "SamPtxForTextSegmentation",
    "SamPtxPeftType",
    "SamPtxPreTrainedModel",
    "SamPtxSegmentationOutput",
    "TextInjection",
    "sam_segmentation_loss",
    "text_conditioning",
]
