"""int8 dynamic quantization of an export folder's graphs, with onnxruntime's quantizer.

The weights of the matrix multiplications become int8 (activations are quantized at run time), which shrinks the
graphs about four times; convolutions and the rest stay float32. The quantized graphs replace the float32 ones in the
folder and `config.json` records `quantization: "int8"`.
"""

import logging
import os

from .layout import ExportLayout

QUANTIZATION_MODES = ("int8",)


def quantize_export(folder: str | os.PathLike, mode: str = "int8") -> ExportLayout:
    """Quantize every graph of the export in `folder` in place; returns the updated layout.

    Args:
        folder: An export folder written by [`samptx_hf.onnx.export.export_model`].
        mode: `"int8"`: dynamic quantization of the MatMul / Gemm weights (`onnxruntime.quantization`).

    Raises:
        FileNotFoundError: When `folder` is not an export folder.
        ValueError: On another mode, or an export that is already quantized.
    """
    if mode not in QUANTIZATION_MODES:
        raise ValueError(f"quantization mode {mode!r} is not supported: expected one of {list(QUANTIZATION_MODES)}")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    layout = ExportLayout.load(folder)
    if layout.quantization is not None:
        raise ValueError(f"the export in {folder} is already quantized ({layout.quantization})")
    # onnxruntime's quantizer advises shape pre-processing on the root logger, once per graph: not needed here.
    advice = _DropMessage("Please consider to run pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        for spec in layout.graphs.values():
            path = os.path.join(folder, spec.file)
            quantized = path + ".int8.tmp"
            quantize_dynamic(path, quantized, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
            os.replace(quantized, path)
    finally:
        logging.getLogger().removeFilter(advice)
    layout.quantization = mode
    layout.save(folder)
    return layout


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


__all__ = ["QUANTIZATION_MODES", "quantize_export"]
