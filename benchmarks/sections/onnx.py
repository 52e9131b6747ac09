"""ONNX export: onnxruntime (float32 and int8) against PyTorch for the trunk, the text blocks and a click; file sizes.

The model is SAM-PTx with Parallel-Text adapters in the last `--shared_layers` blocks (random non-zero adapter
weights), so the image encoder splits into the per-image trunk and the per-class text blocks. Both runtimes get the
same threads (`torch.set_num_threads` of the run, onnxruntime's `intra_op_num_threads`); on the CPU only.
"""

import os
import shutil
import tempfile
import time
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from common import DEFAULT_SHARED_LAYERS, Section, SizeRun, format_seconds, paired_ratio, time_in_rotation

from samptx_hf import Method
from samptx_hf.onnx.export import export_model
from samptx_hf.onnx.layout import DECODER, IMAGE_ENCODER, TRUNK, ExportLayout, decoder_prompt
from samptx_hf.onnx.quantization import quantize_export

PARTS = ("trunk", "text_blocks", "click")


def _sessions(folder: str, layout: ExportLayout, threads: int) -> dict[str, ort.InferenceSession]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return {
        role: ort.InferenceSession(os.path.join(folder, spec.file), options, providers=["CPUExecutionProvider"])
        for role, spec in layout.graphs.items()
        if role in (TRUNK, IMAGE_ENCODER, DECODER)
    }


def measure(run: SizeRun) -> dict[str, Any]:
    """Export once (timed), quantize a copy, then time each part in rotation: PyTorch, onnxruntime float32, int8."""
    shared_layers = run.options.shared_layers or DEFAULT_SHARED_LAYERS[run.size]
    model = run.models.peft_model(Method.PARALLEL_TEXT.value, adapter_layers=shared_layers, init_weights=False)
    base = model.get_base_model().eval()
    size = base.config.sam_config.vision_config.image_size
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(1, 3, size, size, generator=generator)
    text_embeds = base.encode_text(["cat"])
    with tempfile.TemporaryDirectory() as workspace:
        float_dir, int8_dir = os.path.join(workspace, "float32"), os.path.join(workspace, "int8")
        start = time.perf_counter()
        layout = export_model(model, float_dir, exporter=run.options.onnx_exporter)
        export_s = time.perf_counter() - start
        shutil.copytree(float_dir, int8_dir)
        start = time.perf_counter()
        int8_layout = quantize_export(int8_dir)
        quantize_s = time.perf_counter() - start
        sizes = {
            role: {
                "float32_bytes": os.path.getsize(os.path.join(float_dir, spec.file)),
                "int8_bytes": os.path.getsize(os.path.join(int8_dir, spec.file)),
            }
            for role, spec in layout.graphs.items()
        }
        runtimes = {
            "float32": _sessions(float_dir, layout, run.threads),
            "int8": _sessions(int8_dir, int8_layout, run.threads),
        }

        with torch.no_grad():
            trunk = base.get_image_trunk(pixel_values)
            features = base.get_image_embeddings(image_trunk=trunk, text_embeds=text_embeds)
        point = torch.tensor([[[[size / 2, size / 2]]]])
        points, labels = decoder_prompt(layout.base, points=point[0, 0].numpy(), labels=[1])
        inputs = {"pixel_values": pixel_values.numpy(), "text_embeds": text_embeds.numpy()}
        for role in (TRUNK, IMAGE_ENCODER):
            spec = layout.graphs[role]
            outputs = runtimes["float32"][role].run(None, {name: inputs[name] for name in spec.inputs})
            inputs.update(zip(spec.outputs, outputs, strict=True))
        mask_size = layout.low_res_mask_size
        inputs |= {
            "input_points": points[None, None],
            "input_labels": labels[None, None],
            "mask_input": np.zeros((1, 1, mask_size, mask_size), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
        }

        def onnx_call(runtime: str, role: str):
            session, spec = runtimes[runtime][role], layout.graphs[role]
            feed = {name: inputs[name] for name in spec.inputs}
            return lambda: session.run(None, feed)

        @torch.no_grad()
        def torch_click() -> None:
            base(
                image_embeddings=features, text_embeds=text_embeds, input_points=point, input_labels=torch.ones(1, 1, 1)
            )

        torch_parts = {
            "trunk": torch.no_grad()(lambda: base.get_image_trunk(pixel_values)),
            "text_blocks": torch.no_grad()(
                lambda: base.get_image_embeddings(image_trunk=trunk, text_embeds=text_embeds)
            ),
            "click": torch_click,
        }
        roles = {"trunk": TRUNK, "text_blocks": IMAGE_ENCODER, "click": DECODER}
        timings = {}
        for part in PARTS:
            variants = {
                "torch": torch_parts[part],
                "onnx_float32": onnx_call("float32", roles[part]),
                "onnx_int8": onnx_call("int8", roles[part]),
            }
            timing = time_in_rotation(variants, run.repeats, torch.device("cpu"))
            for variant in ("onnx_float32", "onnx_int8"):
                timing[variant]["ratio_to_torch"] = paired_ratio(timing, variant, "torch")
            timings[part] = timing
    return {
        "export_s": export_s,
        "quantize_s": quantize_s,
        "exporter": layout.exporter,
        "opset": layout.opset,
        "shared_layers": shared_layers,
        "sizes": sizes,
        "timings": timings,
        "onnxruntime": ort.__version__,
    }


def report(section: dict[str, Any]) -> list[str]:
    timings = section["timings"]
    lines = [
        f"\n### ONNX export: onnxruntime {section['onnxruntime']} vs PyTorch, one image, one class (adapters in "
        f"`{section['shared_layers']}`; {section['exporter']}, opset {section['opset']}; export "
        f"{format_seconds(section['export_s'])}, int8 quantization {format_seconds(section['quantize_s'])}; load "
        f"{section['load']})\n",
        "| part | PyTorch | onnxruntime float32 | × PyTorch | onnxruntime int8 | × PyTorch |",
        "|---|---|---|---|---|---|",
    ]
    for part, timing in timings.items():
        lines.append(
            f"| {part} | {format_seconds(timing['torch']['median_s'])} "
            f"| {format_seconds(timing['onnx_float32']['median_s'])} | {timing['onnx_float32']['ratio_to_torch']:.2f} "
            f"| {format_seconds(timing['onnx_int8']['median_s'])} | {timing['onnx_int8']['ratio_to_torch']:.2f} |"
        )
    lines += ["", "| graph | float32 | int8 | int8 / float32 |", "|---|---|---|---|"]
    for role, size in section["sizes"].items():
        ratio = size["int8_bytes"] / size["float32_bytes"]
        lines.append(
            f"| {role} | {size['float32_bytes'] / 2**20:.2f} MiB | {size['int8_bytes'] / 2**20:.2f} MiB | {ratio:.2f} |"
        )
    return lines


SECTION = Section(
    name="onnx",
    summary="onnxruntime (float32, int8) vs PyTorch for the trunk, the text blocks and a click; graph file sizes",
    measure=measure,
    report=report,
)
