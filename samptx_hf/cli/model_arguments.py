"""What every `samptx` command shares: the model flags (`--model`, `--device`, `--verbose`), the parsers of
threshold flags, and loading the model a command runs.

The commands themselves live beside what they drive: `samptx_hf/cli/main.py` (segment, eval, push, demo),
`samptx_hf/labelling/command.py` (label), `samptx_hf/onnx/command.py` (export).
"""

import argparse
from typing import Any

import torch


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """`--model`, `--device` and `--verbose`, as every command that loads a model takes them."""
    parser.add_argument("--model", required=True, help="adapter repository or full model: local folder or Hub id")
    parser.add_argument(
        "--device", type=parse_device, default=None, help="torch device (default: cuda if available, else cpu)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the libraries' warnings, progress bars and tracebacks"
    )


def parse_device(value: str) -> str:
    """A torch device that this machine has, e.g. `cpu`, `cuda`, `cuda:1`, `mps`."""
    try:
        device = torch.device(value)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a torch device, expected e.g. cpu, cuda, cuda:1 or mps"
        ) from None
    if device.type == "cpu":
        return value
    backend = getattr(torch, device.type, None)
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise argparse.ArgumentTypeError(
            f"{value!r}: this torch ({torch.__version__}) has no {device.type} device; use --device cpu"
        )
    if device.index is not None and device.index >= backend.device_count():
        raise argparse.ArgumentTypeError(
            f"{value!r}: this machine has {backend.device_count()} {device.type} device(s), numbered from 0"
        )
    return value


def parse_threshold(value: str) -> float:
    """A mask logit: any real number, not NaN (`check_threshold`)."""
    from ..processing.processing_samptx import check_threshold  # imported when the flag is given: `--help` stays light

    try:
        return check_threshold(float(value))
    except ValueError:  # not a number, or NaN
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a mask logit, expected a number such as 0.0 or -1.5"
        ) from None


def parse_presence_threshold(value: str) -> float:
    """A probability in [0, 1] (`check_presence_threshold`)."""
    from ..processing.processing_samptx import check_presence_threshold

    try:
        return check_presence_threshold(float(value))
    except ValueError:  # not a number, NaN or outside [0, 1]
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a probability, expected a number in [0, 1] such as 0.5"
        ) from None


def load_model(model_name_or_path: str, device: str | None) -> tuple[Any, Any]:
    """The model (adapter repository or full model) on `device`, and the processor saved with it if any.

    Raises:
        OSError, ValueError: When `model_name_or_path` names no SAM-PTx model, locally or on the Hub.
    """
    from transformers.utils import PROCESSOR_NAME, cached_file

    from ..hub import hub_lookup_kwargs, locate_pretrained
    from ..modeling.modeling_samptx import SamPtxForTextSegmentation
    from ..processing.processing_samptx import SamPtxProcessor

    # Checked here to name the flag in the error; the Hub is asked once (`locate_pretrained` remembers the answer).
    hub_kwargs = locate_pretrained(model_name_or_path, what="--model")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = SamPtxForTextSegmentation.from_pretrained(model_name_or_path, **hub_kwargs).to(device)
    processor = getattr(model, "processor", None)  # an adapter repository's, loaded with it
    if processor is None and isinstance(model, SamPtxForTextSegmentation):  # a full model saved with its processor
        lookup = hub_lookup_kwargs(hub_kwargs)
        if cached_file(model_name_or_path, PROCESSOR_NAME, _raise_exceptions_for_missing_entries=False, **lookup):
            processor = SamPtxProcessor.from_pretrained(model_name_or_path, **lookup)
    return model, processor
