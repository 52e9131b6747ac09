"""Export a SAM-PTx model to an ONNX folder that onnxruntime runs without torch (see `samptx_hf.onnx.layout`).

Example:

```py
>>> from samptx_hf import SamPtxForTextSegmentation  # doctest: +SKIP
>>> from samptx_hf.onnx.export import export_model
>>> model = SamPtxForTextSegmentation.from_pretrained("adapter-repo")  # doctest: +SKIP
>>> layout = export_model(model, "exported", class_names=["batfish", "seahorse"])  # doctest: +SKIP
```
"""

import inspect
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.onnx import _constants as _onnx_constants

from ..modeling.configuration_samptx import TextInjection
from ..modeling.image_encoding import first_text_block, image_encoder_blocks
from ..modeling.modeling_samptx import SamPtxForTextSegmentation
from ..modeling.sam_backbones import image_embedding_shape, input_image_size, is_sam2, low_res_mask_size
from ..processing.class_prompts import check_vocabulary
from ..processing.input_checks import check_bool, check_output_path
from ..processing.processing_samptx import SamPtxProcessor
from ..tuners.parallel_text import ParallelTextLayer
from .graphs import DecoderGraph, ImageEncoderGraph, TextEncoderGraph, TrunkGraph
from .layout import (
    CLASS_EMBEDDINGS_FILE,
    CONFIG_FILE,
    DECODER,
    DECODER_MULTIMASK,
    IMAGE_ENCODER,
    TEXT_ENCODER,
    TOKENIZER_FILE,
    TRUNK,
    ExportLayout,
    GraphSpec,
    ImagePreprocessing,
)

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
MIN_OPSET = 17  # LayerNormalization (CLIP, SAM's neck) is an ONNX operator from opset 17 on
# The newest opset each exporter of this torch writes (torch.onnx's own limits; dynamo converts its opset-18 graphs
# up to it, TorchScript stops earlier).
MAX_OPSETS = {
    "dynamo": int(getattr(_onnx_constants, "ONNX_MAX_OPSET", 23)),
    "torchscript": int(getattr(_onnx_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20)),
}
DYNAMO_EXPORTER = "torch.onnx.export(dynamo=True)"
LEGACY_EXPORTER = "torch.onnx.export(dynamo=False)"
# `export_model(exporter=...)`: torch's dynamo exporter (onnxscript), or its TorchScript exporter, which traces the
# same graphs in seconds rather than a minute (measured on the tiny models) and gives the same outputs.
EXPORTERS = ("dynamo", "torchscript")
# Example sizes the graphs are traced with; every one is a dynamic axis, run with other sizes in the tests.
_EXAMPLE_ROWS = 2
_EXAMPLE_POINT_BATCH = 2
_EXAMPLE_POINTS = 3


def export_model(
    model: nn.Module,
    output_dir: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    opset: int = DEFAULT_OPSET,
    text_encoder: bool = True,
    exporter: str = "dynamo",
    quantize: str | None = None,
) -> ExportLayout:
    """Write `model` as ONNX graphs and their `config.json` into `output_dir` (created if missing).

    The model is put in eval mode and in float32 (the graphs are float32; `quantize="int8"` makes their weights
    int8). The export is written into a temporary folder next to `output_dir` and moved into place whole once every
    graph is written: a failed or interrupted export leaves `output_dir` as it was, and an earlier export there is
    replaced as a whole, never mixed with the new one.

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one (its active adapter is exported).
        output_dir: The export folder: a new path, an empty folder, or the folder of an earlier export (replaced).
        class_names: Class names whose text embeddings are stored in `class_embeddings.npy`, so that the
            predictor needs no text encoder for them.
        opset: The ONNX opset, from 17 to the exporter's newest (`MAX_OPSETS`).
        text_encoder: Also export CLIP's text model and its tokenizer (`text_encoder.onnx`, `tokenizer.json`), for
            class names not in `class_names`. Needs the model's tokenizer.
        exporter: `"dynamo"`: `torch.onnx.export(dynamo=True)` (needs onnxscript), falling back to TorchScript for
            a graph it cannot trace (with a warning that says why); `"torchscript"`: `torch.onnx.export(dynamo=False)`
            for every graph, much faster to export. Both give the same outputs (the parity tests run both).
        quantize: `"int8"` to quantize the graphs' weights ([`samptx_hf.onnx.quantize_export`]) before the export is
            moved into place; None keeps them float32.

    Returns:
        [`ExportLayout`]: What was written (also in `output_dir/config.json`).

    Raises:
        TypeError: When `model` is not a SAM-PTx model, or `text_encoder` is not a bool.
        ValueError: On an opset the exporter does not write, empty or repeated class names or one whose prompt is
            longer than the text encoder takes, a text encoder asked for without a tokenizer, or an `output_dir`
            that cannot be written (a file, under a file, read-only) or holds files that are not an export. All are
            checked before the first graph is exported.
    """
    model = _sam_ptx_model(model)
    check_opset(opset, exporter)
    text_encoder = check_bool(text_encoder, "text_encoder")
    if quantize is not None:
        from .quantization import QUANTIZATION_MODES

        if quantize not in QUANTIZATION_MODES:
            raise ValueError(f"quantize={quantize!r} is not one of {list(QUANTIZATION_MODES)} (or None)")
    class_names = _check_class_names(class_names)
    output_dir = os.fspath(output_dir)
    check_export_folder(output_dir)
    tokenizer = model.get_tokenizer() if text_encoder else None
    if text_encoder and getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ValueError("the model's tokenizer is not a fast (tokenizers) tokenizer: export with text_encoder=False")
    model = model.eval().float()
    with torch.no_grad():  # before any graph: a class name too long for the text encoder is refused here
        class_embeddings = model.encode_text(class_names) if class_names else torch.empty(0, model.config.text_dim)

    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output_dir))}.partial-", dir=parent)
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's folder is private (0700); an export folder is not
        layout = _write_export(model, staging, class_names, class_embeddings, tokenizer, opset, exporter)
        if quantize is not None:
            from .quantization import quantize_export

            layout = quantize_export(staging, quantize)
        _move_into_place(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return layout


def check_opset(opset: Any, exporter: str, name: str = "opset") -> int:
    """`opset` when `exporter` (`"dynamo"` or `"torchscript"`) writes it: from `MIN_OPSET` to `MAX_OPSETS[exporter]`.

    Raises:
        ValueError: Naming the value, the exporter and the range, before anything is exported.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r} is not one of {', '.join(EXPORTERS)}")
    newest = MAX_OPSETS[exporter]
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"{name} {opset!r} is not supported by the {exporter} exporter of torch {torch.__version__}: expected an "
            f"integer from {MIN_OPSET} (LayerNormalization) to {newest}"
        )
    return opset


def check_export_folder(output_dir: str | os.PathLike, name: str = "output_dir") -> None:
    """Refuse an export folder that could not be written (a file, a path under a file, a read-only place) or that
    holds files other than an earlier export's, which replacing it would delete.

    Raises:
        ValueError: Naming `name`, the path and what is in the way.
    """
    output_dir = os.fspath(output_dir)
    expected = "a folder for the export (created if missing; an earlier export in it is replaced)"
    check_output_path(output_dir, name, expected)
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return
    if not os.path.isfile(os.path.join(output_dir, CONFIG_FILE)):
        raise ValueError(
            f"{name} {output_dir!r} holds files and no {CONFIG_FILE} of an export, expected a new or empty folder, "
            "or the folder of an earlier export to replace"
        )
    try:
        layout = ExportLayout.load(output_dir)
    except (OSError, ValueError):
        raise ValueError(
            f"{name} {output_dir!r} holds a {CONFIG_FILE} that is not an export's, expected a new or empty folder, "
            "or the folder of an earlier export to replace"
        ) from None
    ours = {CONFIG_FILE, CLASS_EMBEDDINGS_FILE, TOKENIZER_FILE, *(spec.file for spec in layout.graphs.values())}
    others = sorted(set(os.listdir(output_dir)) - ours)
    if others:
        raise ValueError(
            f"{name} {output_dir!r} holds an export and other files {others[:5]}, which replacing the export would "
            "delete: move them, or choose another folder"
        )


def _umask() -> int:
    """This process's umask (the permissions a new folder does not get)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _move_into_place(staging: str, output_dir: str) -> None:
    """Replace `output_dir` (absent, empty or an earlier export) by the finished export in `staging`."""
    if not os.path.exists(output_dir):
        os.rename(staging, output_dir)
        return
    previous = tempfile.mkdtemp(
        prefix=f".{os.path.basename(os.path.abspath(output_dir))}.previous-",
        dir=os.path.dirname(os.path.abspath(output_dir)),
    )
    os.rmdir(previous)
    os.rename(output_dir, previous)
    try:
        os.rename(staging, output_dir)
    except BaseException:
        os.rename(previous, output_dir)
        raise
    shutil.rmtree(previous, ignore_errors=True)


@dataclass
class _GraphWriter:
    """Writes graphs into one folder, with one opset and exporter, and records each graph's spec and exporter."""

    output_dir: str
    opset: int
    exporter: str
    graphs: dict[str, GraphSpec] = field(default_factory=dict)
    exporters: set[str] = field(default_factory=set)

    def write(
        self,
        role: str,
        module: nn.Module,
        inputs: tuple[torch.Tensor, ...],
        spec: GraphSpec,
        extra_axes: dict[str, dict[int, str]] | None = None,
    ) -> None:
        self.graphs[role] = spec
        exporter = _export_graph(module, inputs, self.output_dir, spec, extra_axes or {}, self.opset, self.exporter)
        self.exporters.add(exporter)


def _write_export(
    model: SamPtxForTextSegmentation,
    output_dir: str,
    class_names: list[str],
    class_embeddings: torch.Tensor,
    tokenizer: Any,
    opset: int,
    exporter: str,
) -> ExportLayout:
    """Write every graph, `class_embeddings.npy`, the tokenizer and `config.json` into `output_dir`."""
    writer = _GraphWriter(output_dir, opset, exporter)
    generator = torch.Generator().manual_seed(0)
    image_size = input_image_size(model.config.sam_config)
    pixel_values = torch.randn(_EXAMPLE_ROWS, 3, image_size, image_size, generator=generator)
    text_embeds = torch.nn.functional.normalize(torch.randn(_EXAMPLE_ROWS, model.config.text_dim, generator=generator))
    with torch.no_grad():
        features, feature_names = _write_image_encoder(model, writer, pixel_values, text_embeds)
        _write_decoders(model, writer, features, feature_names, text_embeds, generator)
        if tokenizer is not None:
            _write_text_encoder(model, writer, tokenizer)
    np.save(os.path.join(output_dir, CLASS_EMBEDDINGS_FILE), class_embeddings.float().cpu().numpy())
    layout = _layout_of(model, writer, class_names, with_text_encoder=tokenizer is not None)
    layout.save(output_dir)
    return layout


def _write_image_encoder(
    model: SamPtxForTextSegmentation, writer: _GraphWriter, pixel_values: torch.Tensor, text_embeds: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], list[str]]:
    """The image encoder's graph, split at the first text-reading block when text-free blocks come first (the trunk,
    run once per image); returns its example outputs and their names."""
    vision_encoder = model.sam.vision_encoder
    num_blocks = len(image_encoder_blocks(vision_encoder))
    text_block = first_text_block(vision_encoder)
    reads_text = text_block < num_blocks
    with_trunk = 0 < text_block < num_blocks
    if with_trunk:
        trunk = TrunkGraph(model)
        trunk_outputs = trunk(pixel_values)
        trunk_names = ["trunk_hidden_states"] + [f"trunk_stage_{i}" for i in range(len(trunk_outputs) - 1)]
        writer.write(TRUNK, trunk, (pixel_values,), GraphSpec("trunk.onnx", ["pixel_values"], trunk_names))
        image_inputs, image_input_names = tuple(trunk_outputs), trunk_names
    else:
        image_inputs, image_input_names = (pixel_values,), ["pixel_values"]
    if reads_text:
        image_inputs, image_input_names = (*image_inputs, text_embeds), [*image_input_names, "text_embeds"]
    image_encoder = ImageEncoderGraph(model, with_trunk=with_trunk, reads_text=reads_text)
    features = image_encoder(*image_inputs)
    sam2 = is_sam2(model.config.sam_config)
    feature_names = ["image_embeddings"] + (["high_res_feats_0", "high_res_feats_1"] if sam2 else [])
    spec = GraphSpec("image_encoder.onnx", image_input_names, feature_names)
    writer.write(IMAGE_ENCODER, image_encoder, image_inputs, spec)
    return tuple(features), feature_names


def _write_decoders(
    model: SamPtxForTextSegmentation,
    writer: _GraphWriter,
    features: tuple[torch.Tensor, ...],
    feature_names: list[str],
    text_embeds: torch.Tensor,
    generator: torch.Generator,
) -> None:
    """The decoder's graphs, one per mask count (SAM's one mask per prompt, or its three)."""
    config = model.config
    image_size = input_image_size(config.sam_config)
    mask_size = low_res_mask_size(config.sam_config)
    points = torch.rand(_EXAMPLE_ROWS, _EXAMPLE_POINT_BATCH, _EXAMPLE_POINTS, 2, generator=generator) * image_size
    labels = torch.tensor([1, 0, -1]).expand(_EXAMPLE_ROWS, _EXAMPLE_POINT_BATCH, _EXAMPLE_POINTS).contiguous()
    mask_input = torch.randn(_EXAMPLE_ROWS, 1, mask_size, mask_size, generator=generator)
    has_mask_input = torch.tensor([1.0, 0.0])
    inputs = (*features, points, labels, mask_input, has_mask_input)
    input_names = [*feature_names, "input_points", "input_labels", "mask_input", "has_mask_input"]
    if config.text_injection in (TextInjection.PROMPT_ENCODER.value, TextInjection.MASK_DECODER.value):
        inputs, input_names = (*inputs, text_embeds), [*input_names, "text_embeds"]
    output_names = ["low_res_masks", "iou_scores"] + (["presence_logits"] if config.presence_head else [])
    prompt_axes = {"input_points": {1: "point_batch", 2: "points"}, "input_labels": {1: "point_batch", 2: "points"}}
    output_axes = {name: {1: "point_batch"} for name in output_names}
    for role, multimask in ((DECODER, False), (DECODER_MULTIMASK, True)):
        spec = GraphSpec(f"{role}.onnx", input_names, output_names)
        writer.write(role, DecoderGraph(model, multimask), inputs, spec, {**prompt_axes, **output_axes})


def _write_text_encoder(model: SamPtxForTextSegmentation, writer: _GraphWriter, tokenizer: Any) -> None:
    """CLIP's text model as a graph, and its tokenizer as `tokenizer.json`."""
    tokens = tokenizer(model.format_prompts(["a", "two words"]), padding=True, return_tensors="pt")
    spec = GraphSpec("text_encoder.onnx", ["input_ids", "attention_mask"], ["text_embeds"])
    sequence_axes = {"input_ids": {1: "length"}, "attention_mask": {1: "length"}}
    writer.write(
        TEXT_ENCODER, TextEncoderGraph(model), (tokens["input_ids"], tokens["attention_mask"]), spec, sequence_axes
    )
    tokenizer.backend_tokenizer.save(os.path.join(writer.output_dir, TOKENIZER_FILE))


def _layout_of(
    model: SamPtxForTextSegmentation, writer: _GraphWriter, class_names: list[str], with_text_encoder: bool
) -> ExportLayout:
    """The export's `config.json`: what a torch-free predictor needs to run the graphs `writer` wrote."""
    config = model.config
    sam2 = is_sam2(config.sam_config)
    image_size = input_image_size(config.sam_config)
    return ExportLayout(
        base="sam2" if sam2 else "sam",
        method=_method_of(model),
        text_injection=config.text_injection,
        first_text_block=first_text_block(model.sam.vision_encoder),
        num_blocks=len(image_encoder_blocks(model.sam.vision_encoder)),
        presence_head=bool(config.presence_head),
        preprocessing=_preprocessing_of(model, image_size, sam2),
        mask_threshold=0.0,
        low_res_mask_size=low_res_mask_size(config.sam_config),
        image_embedding_shape=list(image_embedding_shape(config.sam_config)),
        text_dim=config.text_dim,
        normalize_text_embeds=bool(config.normalize_text_embeds),
        prompt_template=config.prompt_template,
        graphs=writer.graphs,
        opset=writer.opset,
        exporter=" + ".join(sorted(writer.exporters)),
        class_names=class_names,
        tokenizer_file=TOKENIZER_FILE if with_text_encoder else None,
        max_text_length=int(config.text_config.max_position_embeddings),
        pad_token_id=int(config.text_config.pad_token_id or 0),
    )


def _export_graph(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    output_dir: str,
    spec: GraphSpec,
    extra_axes: dict[str, dict[int, str]],
    opset: int,
    exporter: str,
) -> str:
    """Export one graph (batch axis 0 dynamic on every input and output, plus `extra_axes`); returns the exporter.

    With `exporter="dynamo"` torch's dynamo exporter first, TorchScript's where dynamo cannot trace the module."""
    names = [*spec.inputs, *spec.outputs]
    dynamic_axes = {name: {0: "rows", **extra_axes.get(name, {})} for name in names}
    path = os.path.join(output_dir, spec.file)
    export_kwargs: dict[str, Any] = {"input_names": spec.inputs, "output_names": spec.outputs, "opset_version": opset}
    # The graphs take their inputs as `*inputs`: one dynamic-shape spec per positional input.
    dynamic_shapes = tuple({axis: torch.export.Dim.DYNAMIC for axis in dynamic_axes[name]} for name in spec.inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(module, inputs, path, dynamo=False, dynamic_axes=dynamic_axes, **export_kwargs)
            return LEGACY_EXPORTER
        # The dynamo exporter logs a warning per torchvision operator it cannot register when torchvision is absent.
        registration_logger = logging.getLogger("torch.onnx._internal.exporter._registration")
        level = registration_logger.level
        registration_logger.setLevel(logging.ERROR)
        try:
            torch.onnx.export(
                module,
                inputs,
                path,
                dynamo=True,
                dynamic_shapes=(dynamic_shapes,) if _takes_varargs(module) else dynamic_shapes,
                external_data=False,
                verbose=False,
                **export_kwargs,
            )
            return DYNAMO_EXPORTER
        except Exception as error:  # noqa: BLE001 - any failure of the dynamo exporter falls back to TorchScript
            reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
            if opset > MAX_OPSETS["torchscript"]:
                raise ValueError(
                    f"the dynamo exporter could not export {spec.file} ({reason}), and the TorchScript exporter "
                    f"writes opsets up to {MAX_OPSETS['torchscript']}, not {opset}: export with a lower opset"
                ) from error
            logger.warning(
                "the dynamo exporter could not export %s (%s); exported it with TorchScript "
                "(torch.onnx.export(dynamo=False)) instead, which gives the same outputs",
                spec.file,
                reason,
            )
            torch.onnx.export(module, inputs, path, dynamo=False, dynamic_axes=dynamic_axes, **export_kwargs)
            return LEGACY_EXPORTER
        finally:
            registration_logger.setLevel(level)


def _takes_varargs(module: nn.Module) -> bool:
    return any(
        p.kind is inspect.Parameter.VAR_POSITIONAL for p in inspect.signature(module.forward).parameters.values()
    )


def _sam_ptx_model(model: nn.Module) -> SamPtxForTextSegmentation:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(base, SamPtxForTextSegmentation):
        raise TypeError(
            f"model is a {type(model).__name__}: expected a SamPtxForTextSegmentation or a PeftModel around one"
        )
    return base


def _check_class_names(class_names: Sequence[str] | None) -> list[str]:
    """The vocabulary to store (`check_vocabulary`); none at all is allowed (no `class_embeddings.npy` rows)."""
    if class_names is None or (not isinstance(class_names, str) and len(class_names) == 0):
        return []
    return check_vocabulary(class_names, "class_names")


def _method_of(model: SamPtxForTextSegmentation) -> str:
    """The SAM-PTx method the model's adapters and text injection make (`samptx_hf.modeling.methods`)."""
    injection = model.config.text_injection
    if injection == TextInjection.PROMPT_ENCODER.value:
        return "text_prompt_encoder"
    if injection == TextInjection.MASK_DECODER.value:
        return "text_mask_decoder"
    adapters = [module for module in model.modules() if isinstance(module, ParallelTextLayer)]
    if not adapters:
        return "decoder_only"
    return "parallel_text" if any(adapter.reads_text for adapter in adapters) else "parallel_adapter"


def _preprocessing_of(model: SamPtxForTextSegmentation, image_size: int, sam2: bool) -> ImagePreprocessing:
    """What `SamPtxProcessor.from_model(model)` does to an image."""
    image_processor = SamPtxProcessor.from_model(model).image_processor
    return ImagePreprocessing(
        image_size=image_size,
        resize="square" if sam2 else "longest_side",
        resample="bilinear",
        rescale_factor=float(image_processor.rescale_factor),
        image_mean=[float(value) for value in image_processor.image_mean],
        image_std=[float(value) for value in image_processor.image_std],
        pad=not sam2,
    )


__all__ = ["DEFAULT_OPSET", "MAX_OPSETS", "check_export_folder", "check_opset", "export_model"]
