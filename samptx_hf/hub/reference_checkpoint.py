"""A checkpoint of the authors' SAM-PTx code, converted to an adapter repository of this package (`samptx convert`).

The authors train their Parallel_Text SAM (segment-anything's modules, with per-block adapters) and save it with
`torch.save(model.state_dict())`, or as a dict holding it under `model_state_dict`. Its keys are in
segment-anything's layout: `image_encoder.*` (the frozen ViT plus `blocks.N.MLP_Adapter.{D_fc1, D_fc2,
text_projection}` and `blocks.N.Space_Adapter.{D_fc1, D_fc2}`), `prompt_encoder.*` and `mask_decoder.*` (both
trained). The conversion maps every key to transformers' `SamModel` layout, checks that the frozen weights are
those of the base SAM it names, and writes the adapters in the reference form (`peft_config_for(...,
form="reference")`) with the trained prompt encoder and mask decoder, as `save_adapter_repo` writes any trained model.

Only the weights are converted: the authors' input pipeline (1024 × 1024 resize without keeping the aspect ratio)
is not the processor's (longest side 1024, padded). Their text embedding (`methods.REFERENCE_TEXT_OPTIONS`: the bare
class name, minus the empty-prompt ensemble) is the converted repository's.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from peft import get_peft_model, set_peft_model_state_dict

from ..modeling.configuration_samptx import TextInjection
from ..modeling.methods import REFERENCE_FORM_OPTIONS, REFERENCE_TEXT_OPTIONS, peft_config_for
from ..modeling.modeling_samptx import SamPtxForTextSegmentation

# segment-anything → transformers, applied in this order to every key (facts of transformers' SAM conversion).
_KEY_RENAMES = (
    (r"^image_encoder\.", "vision_encoder."),
    (r"\.blocks\.(\d+)\.", r".layers.\1."),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"\.neck\.0\.", ".neck.conv1."),
    (r"\.neck\.1\.", ".neck.layer_norm1."),
    (r"\.neck\.2\.", ".neck.conv2."),
    (r"\.neck\.3\.", ".neck.layer_norm2."),
    (r"\.pe_layer\.positional_encoding_gaussian_matrix$", ".shared_embedding.positional_embedding"),
    (r"\.point_embeddings\.(\d+)\.", r".point_embed.\1."),
    (r"\.mask_downscaling\.0\.", ".mask_embed.conv1."),
    (r"\.mask_downscaling\.1\.", ".mask_embed.layer_norm1."),
    (r"\.mask_downscaling\.3\.", ".mask_embed.conv2."),
    (r"\.mask_downscaling\.4\.", ".mask_embed.layer_norm2."),
    (r"\.mask_downscaling\.6\.", ".mask_embed.conv3."),
    (r"\.output_upscaling\.0\.", ".upscale_conv1."),
    (r"\.output_upscaling\.1\.", ".upscale_layer_norm."),
    (r"\.output_upscaling\.3\.", ".upscale_conv2."),
    (r"\.(iou_prediction_head|output_hypernetworks_mlps\.\d+)\.layers\.0\.", r".\1.proj_in."),
    (r"\.(iou_prediction_head|output_hypernetworks_mlps\.\d+)\.layers\.1\.", r".\1.layers.0."),
    (r"\.(iou_prediction_head|output_hypernetworks_mlps\.\d+)\.layers\.2\.", r".\1.proj_out."),
    (r"\.norm(\d|_final_attn)\.", r".layer_norm\1."),
)
# The adapters of the authors' Parallel_Text block → the reference form's modules (ParallelTextLayer names).
_ADAPTER_RENAMES = {
    "MLP_Adapter.D_fc1": "mlp.parallel_text_down",
    "MLP_Adapter.D_fc2": "mlp.parallel_text_up",
    "MLP_Adapter.text_projection": "mlp.parallel_text_text",
    "Space_Adapter.D_fc1": "attn.parallel_text_down",
    "Space_Adapter.D_fc2": "attn.parallel_text_up",
}
_ADAPTER_KEY = re.compile(r"^image_encoder\.blocks\.(?P<block>\d+)\.(?P<module>\w*Adapter\w*)\.(?P<rest>.+)$")
_SECTIONS = ("image_encoder.", "prompt_encoder.", "mask_decoder.")
# Buffers of segment-anything's `Sam` that are not weights (normalisation constants).
_IGNORED_KEYS = ("pixel_mean", "pixel_std")
# The frozen part of the trained prompt encoder: SAM's random Fourier features.
_FOURIER_FEATURES = "prompt_encoder.shared_embedding.positional_embedding"


def sam_key_to_transformers(key: str) -> str:
    """The transformers `SamModel` name of a segment-anything state-dict key (frozen or trained, not an adapter).

    Example:
        >>> sam_key_to_transformers("image_encoder.blocks.3.norm1.weight")
        'vision_encoder.layers.3.layer_norm1.weight'
        >>> sam_key_to_transformers("mask_decoder.iou_prediction_head.layers.2.bias")
        'mask_decoder.iou_prediction_head.proj_out.bias'
    """
    for pattern, replacement in _KEY_RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def load_reference_state_dict(checkpoint: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of an authors' checkpoint: the file itself, or its `model_state_dict` (a `module.` prefix of
    a DistributedDataParallel model removed). Loaded with `torch.load(weights_only=True)`: nothing is unpickled.

    Raises:
        FileNotFoundError: When `checkpoint` is not a file.
        ValueError: When it is not a PyTorch file, or holds no state dict of tensors.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint {path}: no such file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike for a file that is not its own
        raise ValueError(
            f"--checkpoint {path} is not a PyTorch checkpoint of tensors that loads with torch.load(weights_only="
            f"True) ({type(error).__name__}): expected the .pth file the authors' training code saves"
        ) from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("model_state_dict"), Mapping):
        loaded = loaded["model_state_dict"]
    if not isinstance(loaded, Mapping) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        kind = f"a dict with keys {sorted(loaded)[:5]}" if isinstance(loaded, Mapping) else type(loaded).__name__
        raise ValueError(
            f"--checkpoint {path} holds {kind}, expected a SAM state_dict (tensors under image_encoder.*, "
            "prompt_encoder.*, mask_decoder.*) or a dict holding one under 'model_state_dict'"
        )
    state_dict = dict(loaded)
    if all(key.startswith("module.") for key in state_dict):
        state_dict = {key[len("module.") :]: value for key, value in state_dict.items()}
    return state_dict


def split_reference_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], bool]:
    """Split an authors' state dict into SAM's weights (transformers names) and the adapters (reference-form names,
    `vision_encoder.layers.N.{mlp,attn}.parallel_text_*.{weight,bias}`), and say whether the adapters read text.

    Raises:
        ValueError: On a key outside SAM's three modules, adapters of another form (another module, another
            layer, text in some blocks only), or no adapter at all; the message names the key.
    """
    sam_weights: dict[str, torch.Tensor] = {}
    adapters: dict[str, torch.Tensor] = {}
    text_blocks, adapter_blocks = set(), set()
    expected = ", ".join(sorted(_ADAPTER_RENAMES))
    for key, value in state_dict.items():
        if key in _IGNORED_KEYS:
            continue
        if not key.startswith(_SECTIONS):
            raise ValueError(
                f"the checkpoint holds the unknown key {key!r}: expected segment-anything's image_encoder.*, "
                "prompt_encoder.*, mask_decoder.*"
            )
        match = _ADAPTER_KEY.match(key)
        if match is None:
            sam_weights[sam_key_to_transformers(key)] = value
            continue
        module, rest = match["module"], match["rest"]
        layer, _, parameter = rest.rpartition(".")
        source = f"{module}.{layer}"
        if source not in _ADAPTER_RENAMES or parameter not in ("weight", "bias"):
            raise ValueError(
                f"the checkpoint holds adapters of another form ({key!r}): the reference form (the authors' "
                f"Parallel_Text block) has {expected}"
            )
        block = int(match["block"])
        adapter_blocks.add(block)
        if source == "MLP_Adapter.text_projection":
            text_blocks.add(block)
        adapters[f"vision_encoder.layers.{block}.{_ADAPTER_RENAMES[source]}.{parameter}"] = value
    if not adapters:
        raise ValueError(
            "the checkpoint holds no adapters (no image_encoder.blocks.N.MLP_Adapter / Space_Adapter keys): expected "
            "a checkpoint of the authors' Parallel_Text SAM"
        )
    if text_blocks and text_blocks != adapter_blocks:
        missing = sorted(adapter_blocks - text_blocks)
        raise ValueError(
            f"the checkpoint's adapters read text in some blocks only (no MLP_Adapter.text_projection in blocks "
            f"{missing}): adapters of another form"
        )
    return sam_weights, adapters, bool(text_blocks)


def check_vit_size(sam_weights: Mapping[str, torch.Tensor], base_state: Mapping[str, torch.Tensor], base: str) -> None:
    """`ValueError` when the checkpoint's ViT (width, blocks) is not the base SAM's."""

    def size(weights: Mapping[str, torch.Tensor]) -> tuple[int | None, int]:
        projection = weights.get("vision_encoder.patch_embed.projection.weight")
        blocks = {int(m[1]) for k in weights if (m := re.match(r"vision_encoder\.layers\.(\d+)\.", k))}
        return (None if projection is None else projection.shape[0]), len(blocks)

    (width, depth), (base_width, base_depth) = size(sam_weights), size(base_state)
    if (width, depth) != (base_width, base_depth):
        raise ValueError(
            f"the checkpoint's image encoder is a ViT of width {width} with {depth} blocks, but --sam-model {base} "
            f"has width {base_width} with {base_depth} blocks: convert with the SAM the checkpoint was trained from "
            "(facebook/sam-vit-base, -large or -huge)"
        )


def check_frozen_weights(
    sam_weights: Mapping[str, torch.Tensor], base_state: Mapping[str, torch.Tensor], base: str
) -> None:
    """`ValueError` on a key missing from either side, or a frozen weight that differs from the base SAM's.

    Frozen: the image encoder and SAM's Fourier features; the prompt encoder's and mask decoder's other weights are
    the trained ones and only need the base's names and shapes.
    """
    # transformers' SamModel holds the Fourier features twice; segment-anything once, in the prompt encoder.
    expected = {key for key in base_state if key != "shared_image_embedding.positional_embedding"}
    unknown = sorted(set(sam_weights) - expected)
    if unknown:
        raise ValueError(
            f"the checkpoint holds {len(unknown)} key(s) that SAM does not have, first {unknown[0]!r} (in "
            f"transformers' names): not a checkpoint of --sam-model {base}'s architecture"
        )
    missing = sorted(expected - set(sam_weights))
    if missing:
        raise ValueError(
            f"the checkpoint lacks {len(missing)} of SAM's weights, first {missing[0]!r} (in transformers' names)"
        )
    for key, value in sam_weights.items():
        base_value = base_state[key]
        if tuple(value.shape) != tuple(base_value.shape):
            raise ValueError(
                f"the checkpoint's {key!r} has shape {tuple(value.shape)}, --sam-model {base}'s "
                f"{tuple(base_value.shape)}"
            )
        if not (key.startswith("vision_encoder.") or key == _FOURIER_FEATURES):
            continue
        if not torch.equal(value.to(base_value.dtype), base_value):
            difference = (value.to(torch.float64) - base_value.to(torch.float64)).abs().max().item()
            raise ValueError(
                f"the checkpoint's frozen weight {key!r} differs from --sam-model {base}'s by up to {difference:.3g}: "
                "convert with the SAM the checkpoint was trained from"
            )


def convert_reference_checkpoint(
    checkpoint: str | os.PathLike,
    sam_model_name_or_path: str | os.PathLike,
    text_model_name_or_path: str | os.PathLike,
    output_dir: str | os.PathLike,
) -> Path:
    """Convert an authors' checkpoint into an adapter repository in `output_dir` (see the module docstring).

    The repository loads with `SamPtxForTextSegmentation.from_pretrained(output_dir)` and `AutoModel`: the frozen
    SAM and CLIP named here, the reference-form adapters, the checkpoint's prompt encoder and mask decoder.

    Raises:
        FileNotFoundError: When the checkpoint is not a file, or a component cannot be found.
        ValueError: On a checkpoint that is not the authors' Parallel_Text SAM of `sam_model_name_or_path` (see
            `load_reference_state_dict`, `split_reference_state_dict`, `check_vit_size`, `check_frozen_weights`), or
            a text model whose embedding width is not the one the adapters read.
    """
    from . import save_adapter_repo  # the repository format; the hub package does not import the model

    state_dict = load_reference_state_dict(checkpoint)
    sam_weights, adapters, reads_text = split_reference_state_dict(state_dict)
    base = os.fspath(sam_model_name_or_path)
    model = SamPtxForTextSegmentation.from_pretrained_components(
        sam_model_name_or_path,
        text_model_name_or_path,
        text_injection=(TextInjection.PARALLEL_TEXT if reads_text else TextInjection.NONE).value,
        **REFERENCE_TEXT_OPTIONS,
    )
    if model.config.sam_config.model_type != "sam":
        raise ValueError(
            f"--sam-model {base} is a {model.config.sam_config.model_type}, expected a SAM (ViT) checkpoint such as "
            "facebook/sam-vit-base: the authors' code adapts SAM's ViT"
        )
    base_state = model.sam.state_dict()
    check_vit_size(sam_weights, base_state, base)
    check_frozen_weights(sam_weights, base_state, base)
    text_projection = next((v for k, v in adapters.items() if k.endswith("mlp.parallel_text_text.weight")), None)
    if text_projection is not None and text_projection.shape[1] != model.config.text_dim:
        raise ValueError(
            f"the checkpoint's adapters read {text_projection.shape[1]}-d text embeddings, but --text-model "
            f"{os.fspath(text_model_name_or_path)} gives {model.config.text_dim}-d ones (the authors use CLIP "
            "ViT-B/16, 512-d: openai/clip-vit-base-patch16)"
        )
    width = base_state["vision_encoder.patch_embed.projection.weight"].shape[0]
    bottleneck = next(v for k, v in adapters.items() if k.endswith("parallel_text_down.weight")).shape[0]
    if bottleneck != int(width * REFERENCE_FORM_OPTIONS["bottleneck_ratio"]):
        raise ValueError(
            f"the checkpoint's adapters have a bottleneck of {bottleneck} on blocks of width {width}, the reference "
            f"form {int(width * REFERENCE_FORM_OPTIONS['bottleneck_ratio'])} (0.25 x width): adapters of another form"
        )
    method = "parallel_text" if reads_text else "parallel_adapter"
    peft_model = get_peft_model(model, peft_config_for(method, form="reference"))
    prefix = "base_model.model.sam."
    trained = {
        prefix + key: value
        for key, value in {**sam_weights, **adapters}.items()
        if key.startswith(("prompt_encoder.", "mask_decoder.", "vision_encoder.layers."))
        and (key in adapters or not key.startswith("vision_encoder."))
    }
    expected_adapters = {
        key[len(prefix) :]
        for key, _ in peft_model.named_parameters()
        if ".parallel_text_" in key and key.startswith(prefix)
    }
    expected_adapters = {re.sub(r"\.default\.", ".", key) for key in expected_adapters}
    if set(adapters) != expected_adapters:
        difference = sorted(set(adapters) ^ expected_adapters)[0]
        side = "lacks" if difference in expected_adapters else "has the extra"
        raise ValueError(f"the checkpoint {side} adapter weight {difference!r}: adapters of another form")
    for key, value in adapters.items():
        target = peft_model.get_parameter(
            prefix + key.replace(".weight", ".default.weight").replace(".bias", ".default.bias")
        )
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(
                f"the checkpoint's adapter weight {key!r} has shape {tuple(value.shape)}, the reference form "
                f"{tuple(target.shape)}: adapters of another form"
            )
    result = set_peft_model_state_dict(peft_model, trained)
    if result.unexpected_keys:
        raise ValueError(f"could not place the checkpoint's weight {result.unexpected_keys[0]!r} in the model")
    peft_model.eval()
    return save_adapter_repo(peft_model, output_dir)


__all__ = [
    "check_frozen_weights",
    "check_vit_size",
    "convert_reference_checkpoint",
    "load_reference_state_dict",
    "sam_key_to_transformers",
    "split_reference_state_dict",
]
