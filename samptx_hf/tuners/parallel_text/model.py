"""`ParallelTextModel`: the PEFT tuner that places Parallel-Text adapters beside SAM's image-encoder MLPs."""

import copy
import re
from collections.abc import Iterator
from typing import Any

import torch
from peft.config import PeftConfig
from peft.tuners.tuners_utils import BaseTuner, check_target_module_exists
from torch import nn

from .config import SAM_VISION_ATTENTION_PATTERN, SAM_VISION_MLP_PATTERN, ParallelTextConfig
from .layer import ParallelTextAttentionLayer, ParallelTextLayer


def block_index(key: str, layers_pattern: list[str] | str | None = None) -> int | None:
    """Index of the block a module name lies in (`"sam.vision_encoder.layers.10.mlp"` → 10), as peft reads it.

    With `layers_pattern`, the index follows one of those names; otherwise it is the first numbered segment.
    """
    if not layers_pattern:
        match = re.match(r".*?\.[^.]*\.(?P<idx>\d+)\.", key)
    else:
        patterns = [layers_pattern] if isinstance(layers_pattern, str) else layers_pattern
        match = next(
            (m for p in patterns if (m := re.match(rf"(?:^|.*?\.){p}\.(?P<idx>\d+)\.", key)) is not None), None
        )
    return int(match["idx"]) if match else None


def resolve_layers_to_transform(config: ParallelTextConfig, model: nn.Module) -> None:
    """Check `config.layers_to_transform` against the blocks `model` has, and make negative indices absolute.

    Raises:
        ValueError: When an index names a block that the targeted modules do not lie in; the message lists the
            blocks that exist.
    """
    layers = config.layers_to_transform
    if layers is None:
        return
    every_block = copy.copy(config)
    every_block.layers_to_transform = None
    blocks = sorted(
        {
            index
            for key, _ in model.named_modules()
            if ParallelTextModel._check_target_module_exists(every_block, key)
            and (index := block_index(key, config.layers_pattern)) is not None
        }
    )
    if not blocks:
        raise ValueError(
            f"ParallelTextConfig.layers_to_transform={layers!r}, but the modules that target_modules="
            f"{config.target_modules!r} matches lie in no numbered block"
            + (f" of layers_pattern={config.layers_pattern!r}" if config.layers_pattern else "")
        )
    requested = [layers] if isinstance(layers, int) else layers
    count = len(blocks)
    missing = [i for i in requested if not -count <= i < count or (i >= 0 and i not in blocks)]
    if missing:
        raise ValueError(
            f"ParallelTextConfig.layers_to_transform={layers!r} names blocks {missing} that do not exist: the "
            f"targeted modules lie in blocks {blocks[0]}..{blocks[-1]} ({count} blocks; -{count}..-1 from the end)"
        )
    resolved = [blocks[i] if i < 0 else i for i in requested]
    if len(set(resolved)) != len(resolved):
        raise ValueError(
            f"ParallelTextConfig.layers_to_transform={layers!r} names a block twice (as {resolved} of blocks "
            f"{blocks[0]}..{blocks[-1]})"
        )
    config.layers_to_transform = sorted(resolved) if isinstance(layers, list) else resolved[0]


# Heads of a trained copy (`modules_to_save`) that no SAM-PTx loss reaches unless the model answers presence: SAM 2's
# mask decoder predicts whether the object is in the image, and without absent classes every training sample holds
# its object. Left trainable, they would get no gradient, which DistributedDataParallel refuses. With
# `SamPtxConfig.presence_head` the presence loss trains them.
HEADS_WITHOUT_LOSS = ("pred_obj_score_head",)
# The module that holds SAM's presence token and head (`samptx_hf.modeling.presence_head.SamPresenceHead`), trained and
# saved with
# the adapter when the model has one.
PRESENCE_HEAD_MODULE = "presence_head"


# SAM's random Fourier features, which a trained copy of the prompt encoder holds (`shared_embedding`): a fixed
# buffer in segment-anything, never trained (the image side reads its own copy, `shared_image_embedding`).
FIXED_IN_TRAINED_COPIES = ("shared_embedding",)


def freeze_heads_without_loss(model: nn.Module, adapter_name: str) -> None:
    """Freeze, inside the adapter's trained module copies (they keep the base's weights), the
    `FIXED_IN_TRAINED_COPIES` and, unless the model trains a presence answer, the `HEADS_WITHOUT_LOSS`."""
    frozen = set(FIXED_IN_TRAINED_COPIES)
    if not getattr(getattr(model, "config", None), "presence_head", False):
        frozen.update(HEADS_WITHOUT_LOSS)
    for trained in trained_copies(model, adapter_name):
        for name, submodule in trained.named_modules():
            if name.rsplit(".", 1)[-1] in frozen:
                submodule.requires_grad_(False)


def trained_copies(model: nn.Module, adapter_name: str | None = None) -> Iterator[nn.Module]:
    """The trained module copies (`modules_to_save`) in `model`: those of `adapter_name`, or of every adapter."""
    for module in model.modules():
        copies = getattr(module, "modules_to_save", None)
        if isinstance(copies, nn.ModuleDict):
            yield from (trained for name, trained in copies.items() if adapter_name in (None, name))


_SAM_NAMES = {"sam": "SAM (SamModel)", "sam2": "SAM 2 (Sam2Model)"}


def check_trained_on(config: ParallelTextConfig, sam_model_type: str | None) -> None:
    """`ValueError` naming both when a loaded adapter was trained on another SAM than the model's (SAM onto SAM 2, or
    the reverse), whose weights would not fit."""
    trained_on = getattr(config, "_trained_on_sam", None)
    if not trained_on or sam_model_type is None:
        return
    family = {name: "sam2" if name.startswith("sam2") else name for name in (trained_on["model_type"], sam_model_type)}
    if family[trained_on["model_type"]] == family[sam_model_type]:
        return
    adapter_sam = _SAM_NAMES.get(family[trained_on["model_type"]], repr(trained_on["model_type"]))
    model_sam = _SAM_NAMES.get(family[sam_model_type], repr(sam_model_type))
    where = f" {trained_on['name']!r}" if trained_on["name"] else ""
    raise ValueError(
        f"the adapter was trained on the {adapter_sam}{where} (its config.json), this model holds a {model_sam}: "
        f"load the adapter onto the SAM it was trained on, e.g. with SamPtxForTextSegmentation.from_pretrained("
        f"{trained_on['adapter']!r}), which loads its frozen components itself"
    )


class ParallelTextModel(BaseTuner):
    """Adds Parallel-Text adapters (SAM-PTx) to a model; used through `peft.get_peft_model`.

    Args:
        model (`torch.nn.Module`): The model to adapt: a `SamPtxForTextSegmentation`, or a transformers `SamModel` or
            `Sam2Model`.
        config (`ParallelTextConfig`): The adapter configuration.
        adapter_name (`str`): Name of the adapter, `"default"` unless given.

    Example:

    ```py
    >>> import samptx_hf  # registers the method with peft  # doctest: +SKIP
    >>> from peft import get_peft_model
    >>> peft_model = get_peft_model(model, samptx_hf.ParallelTextConfig(r=16))  # doctest: +SKIP
    >>> peft_model.print_trainable_parameters()  # doctest: +SKIP
    ```
    """

    prefix: str = "parallel_text_"
    tuner_layer_cls = ParallelTextLayer
    target_module_mapping = {
        "sam_ptx": SAM_VISION_MLP_PATTERN,
        "sam": SAM_VISION_MLP_PATTERN,
        "sam2": SAM_VISION_MLP_PATTERN,
    }

    def inject_adapter(self, model: nn.Module, adapter_name: str, *args: Any, **kwargs: Any) -> None:
        resolve_layers_to_transform(self.peft_config[adapter_name], model)
        self.peft_config[adapter_name].record_base_model(model)
        super().inject_adapter(model, adapter_name, *args, **kwargs)
        freeze_heads_without_loss(model, adapter_name)

    @staticmethod
    def _check_target_module_exists(peft_config: PeftConfig, key: str) -> bool | re.Match[str] | None:
        # peft applies `layers_to_transform` only to a list of target names; ours also filters a regex target.
        # With `attention_adapter`, the attention of each image-encoder block is a target too.
        found = check_target_module_exists(peft_config, key)
        if not found and getattr(peft_config, "attention_adapter", False):
            found = re.fullmatch(SAM_VISION_ATTENTION_PATTERN, key) is not None
        layers = getattr(peft_config, "layers_to_transform", None)
        if not found or layers is None or not isinstance(peft_config.target_modules, str):
            return found
        return block_index(key, peft_config.layers_pattern) in ([layers] if isinstance(layers, int) else layers)

    def _prepare_adapter_config(self, peft_config: PeftConfig, model_config: dict) -> PeftConfig:
        peft_config = super()._prepare_adapter_config(peft_config, model_config)
        sam_model_type = (model_config.get("sam_config") or {}).get("model_type")
        check_trained_on(peft_config, sam_model_type)
        if model_config.get("presence_head") and sam_model_type == "sam":  # SAM 2's head is inside its decoder
            modules_to_save = list(peft_config.modules_to_save or [])
            if PRESENCE_HEAD_MODULE not in modules_to_save:
                peft_config.modules_to_save = [*modules_to_save, PRESENCE_HEAD_MODULE]
        model_text_dim = (model_config.get("text_config") or {}).get("projection_dim")
        if peft_config.text_dim is None:
            peft_config.text_dim = model_text_dim
        elif model_text_dim is not None and peft_config.text_dim != model_text_dim:
            raise ValueError(
                f"ParallelTextConfig.text_dim={peft_config.text_dim} does not match the model's text embedding width "
                f"text_config.projection_dim={model_text_dim}"
            )
        return peft_config

    def _create_and_replace(
        self,
        peft_config: ParallelTextConfig,
        adapter_name: str,
        target: nn.Module,
        target_name: str,
        parent: nn.Module,
        current_key: str,
        **kwargs: Any,
    ) -> None:
        if isinstance(target, ParallelTextLayer):
            target.update_layer(adapter_name, peft_config)
            return
        if peft_config.attention_adapter and re.fullmatch(SAM_VISION_ATTENTION_PATTERN, current_key):
            block_norm = getattr(parent, "layer_norm1", None)
            new_module = ParallelTextAttentionLayer(target, adapter_name, peft_config, block_norm=block_norm)
        else:
            new_module = ParallelTextLayer(target, adapter_name, peft_config)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def _replace_module(self, parent: nn.Module, child_name: str, new_module: nn.Module, child: nn.Module) -> None:
        # peft's version copies `child.weight`, which SamMLPBlock does not have; we only need the device move.
        setattr(parent, child_name, new_module)
        base_layer = child.get_base_layer() if isinstance(child, ParallelTextLayer) else child
        device = next(base_layer.parameters()).device
        for name, module in new_module.named_modules():
            if self.prefix in name and not any(p.device == torch.device("meta") for p in module.parameters()):
                module.to(device)

    def _check_merge_allowed(self) -> None:
        raise TypeError(
            "ParallelText adapters cannot be merged into the base weights: the adapter branch is non-linear and "
            "depends on the text of each sample. Use unload() to remove the adapters instead."
        )
