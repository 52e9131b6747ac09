"""Adapter size: trainable parameters and the size of what `save_pretrained` writes, per method."""

import gc
import tempfile
from pathlib import Path
from typing import Any

from common import METHODS, Section, SizeRun, encoder_adapter_parameters


def measure(run: SizeRun) -> dict[str, Any]:
    """Trainable parameters and the size of what `save_pretrained` writes, per method."""
    models = run.models
    rows = {}
    for method in METHODS:
        peft_model = models.peft_model(method)
        trainable, total = peft_model.get_nb_trainable_parameters()
        with tempfile.TemporaryDirectory() as directory:
            peft_model.save_pretrained(directory)
            files = {path.name: path.stat().st_size for path in Path(directory).rglob("*") if path.is_file()}
        rows[method] = {
            "trainable_parameters": trainable,
            "all_parameters": total,
            "encoder_adapter_parameters": encoder_adapter_parameters(peft_model),
            "adapter_bytes": sum(files.values()),
            "files": files,
        }
        del peft_model
        gc.collect()
    return {"methods": rows, "lora_rank": models.lora_rank()}


def report(section: dict[str, Any]) -> list[str]:
    lines = [
        f"\n### Trainable parameters and adapter files (LoRA r={section['lora_rank']} + mask decoder)\n",
        "| method | trainable | of which image-encoder adapters | trainable % | saved adapter |",
        "|---|---|---|---|---|",
    ]
    for method, row in section["methods"].items():
        percent = 100 * row["trainable_parameters"] / row["all_parameters"]
        lines.append(
            f"| {method} | {row['trainable_parameters']:,} | {row['encoder_adapter_parameters']:,} "
            f"| {percent:.2f} | {row['adapter_bytes'] / 2**20:.2f} MiB |"
        )
    return lines


SECTION = Section(
    name="params",
    summary="trainable parameters and adapter file size per method (`get_peft_model` + `save_pretrained`)",
    measure=measure,
    report=report,
)
