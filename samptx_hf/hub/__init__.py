"""SAM-PTx models and the Hugging Face Hub, one job per module.

- `locate`: where a model is (a folder, a built-in name or a Hub id), checked once before anything loads.
- `repository`: the adapter repository format, and writing, pushing and reading it.
- `model_card`: the card of an adapter repository.

Loading a repository as a model is [`SamPtxPeftModel`] (`samptx_hf.modeling.peft_model`).
"""

from .locate import HUB_KWARGS, find_adapter_config, hub_lookup_kwargs, is_hub_id, locate_pretrained
from .model_card import MODEL_CARD_TAGS, adapter_placement, build_model_card
from .repository import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_REPO_FILES,
    ADAPTER_WEIGHTS_NAME,
    EVAL_RESULTS_NAME,
    adapter_weight_shapes,
    check_frozen_components_named,
    push_adapter_to_hub,
    read_adapter_config,
    read_repository_config,
    read_repository_metadata,
    save_adapter_repo,
    upload_adapter_repo,
)

__all__ = [
    "ADAPTER_CONFIG_NAME",
    "ADAPTER_REPO_FILES",
    "ADAPTER_WEIGHTS_NAME",
    "EVAL_RESULTS_NAME",
    "HUB_KWARGS",
    "MODEL_CARD_TAGS",
    "adapter_placement",
    "adapter_weight_shapes",
    "build_model_card",
    "check_frozen_components_named",
    "find_adapter_config",
    "hub_lookup_kwargs",
    "is_hub_id",
    "locate_pretrained",
    "push_adapter_to_hub",
    "read_adapter_config",
    "read_repository_config",
    "read_repository_metadata",
    "save_adapter_repo",
    "upload_adapter_repo",
]
