"""`samptx export`: write a model as ONNX graphs that onnxruntime runs without torch (see `docs/deploy.md`)."""

import argparse
import os
from typing import Any

from ..cli.model_arguments import add_model_arguments, load_model
from ..processing.class_prompts import check_vocabulary
from .quantization import QUANTIZATION_MODES

EXPORT_EXAMPLE = """examples:
  samptx export --model user/sam-ptx-cod10k --output exported/
  (writes exported/config.json, trunk.onnx (when the adapters start after the first block), image_encoder.onnx,
  decoder.onnx, decoder_multimask.onnx, text_encoder.onnx and tokenizer.json)

  samptx export --model user/sam-ptx-cod10k --output exported/ --classes batfish,seahorse --quantize int8
  (also class_embeddings.npy, the two classes' text embeddings; every graph's weights int8)"""


def add_export_parser(commands: Any) -> None:
    """Register `samptx export` on the subcommands of `samptx`'s parser."""
    from .export import DEFAULT_OPSET, EXPORTERS, MAX_OPSETS

    export = commands.add_parser(
        "export",
        help="export a model to ONNX (onnxruntime, no torch)",
        description="Export --model as ONNX graphs and their config.json into --output: the image encoder (split "
        "at the first block that reads the text), the prompt encoder and mask decoder, CLIP's text encoder; "
        "samptx_hf.onnx.OnnxPredictor runs them with onnxruntime alone.",
        epilog=EXPORT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(export)
    export.add_argument(
        "--output",
        required=True,
        help="the export folder: a new or empty folder, or an earlier export, which is replaced once the new one is "
        "complete",
    )
    export.add_argument(
        "--classes",
        type=_class_names,
        default=None,
        help="class names separated by commas, whose text embeddings are stored (class_embeddings.npy)",
    )
    export.add_argument(
        "--quantize",
        choices=QUANTIZATION_MODES,
        default=None,
        help="quantize the graphs' weights (int8: dynamic quantization, about 4x smaller)",
    )
    export.add_argument(
        "--opset",
        type=_opset,
        default=DEFAULT_OPSET,
        help=f"the ONNX opset, from 17 to the exporter's newest (dynamo: {MAX_OPSETS['dynamo']}, torchscript: "
        f"{MAX_OPSETS['torchscript']}; default: {DEFAULT_OPSET})",
    )
    export.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default="dynamo",
        help="dynamo: torch.onnx.export(dynamo=True), needs onnxscript (default); torchscript: "
        "torch.onnx.export(dynamo=False), the same graphs' outputs, exported much faster",
    )
    export.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> None:
    """Load the model, export it (and quantize it with --quantize), print what was written."""
    from .export import check_export_folder, check_opset, export_model

    # Before the model loads and the graphs are exported: each would otherwise fail after the work.
    check_opset(args.opset, args.exporter, "--opset")
    check_export_folder(args.output, "--output")
    model, _ = load_model(args.model, "cpu" if args.device is None else args.device)
    layout = export_model(
        model,
        args.output,
        class_names=args.classes,
        opset=args.opset,
        exporter=args.exporter,
        quantize=args.quantize,
    )
    files = [spec.file for spec in layout.graphs.values()]
    sizes = ", ".join(f"{name} {os.path.getsize(os.path.join(args.output, name)) / 2**20:.1f} MiB" for name in files)
    print(f"exported {layout.method} ({layout.base}) to {args.output}: {sizes}; opset {layout.opset}")


def _class_names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",")]
    if not value.strip() or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of class names: expected e.g. 'batfish,seahorse'")
    try:
        return check_vocabulary(names, repr(value))
    except ValueError as error:  # a class named twice
        raise argparse.ArgumentTypeError(str(error)) from None


def _opset(value: str) -> int:
    from .export import MIN_OPSET

    try:
        opset = int(value)
    except ValueError:
        opset = -1
    if opset < MIN_OPSET:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ONNX opset: expected an integer >= {MIN_OPSET}")
    return opset
