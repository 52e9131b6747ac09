"""SAM-PTx as ONNX graphs: export a model (torch), run the export with onnxruntime (no torch).

Importing this package imports neither torch nor transformers: the layout of an export folder
([`ExportLayout`]) is plain Python and numpy. The export functions, which need torch, are imported on first use
(`samptx_hf.onnx.export_model`, or `from samptx_hf.onnx.export import export_model`).
"""

from typing import Any

from .layout import ExportLayout, GraphSpec, ImagePreprocessing, decoder_prompt
from .predictor import OnnxPredictor, OnnxPredictorResult

_LAZY = {"export_model": ".export", "quantize_export": ".quantization"}


def __getattr__(name: str) -> Any:
    # The exporters import torch: only when asked for.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ExportLayout",
    "GraphSpec",
    "ImagePreprocessing",
    "OnnxPredictor",
    "OnnxPredictorResult",
    "decoder_prompt",
    "export_model",
    "quantize_export",
]
