"""Placement: the time of each image-encoder part in one forward, and from it the encoder cost of N classes of one
image with adapters in all, the last half, the last quarter and the last 2 blocks."""

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from common import Section, SizeRun, first_value, format_seconds, prompts_and_text, synchronize

from samptx_hf import Method

CLASS_COUNTS = (1, 4, 16)


def measure(run: SizeRun) -> dict[str, Any]:
    """Seconds of each image-encoder part at batch 1, and the encoder cost of N classes per adapter placement.

    With adapters in the last K of B blocks, N classes of one image cost the patch embedding and the first B - K
    blocks once, and the last K blocks and the neck N times (batch N costs N times batch 1 on a CPU: the multiclass
    rows measure it); without sharing, N full passes.
    """
    models, device, repeats = run.models, run.device, run.repeats
    model = models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval()
    encoder = model.base_model.model.sam.vision_encoder
    parts = {"patch_embed": encoder.patch_embed, **{f"block {i}": b for i, b in enumerate(encoder.layers)}}
    parts["neck"] = encoder.neck
    seconds: dict[str, list[float]] = {name: [] for name in parts}
    started: dict[str, float] = {}

    def before(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            synchronize(device)
            started[name] = time.perf_counter()

        return hook

    def after(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            synchronize(device)
            seconds[name].append(time.perf_counter() - started[name])

        return hook

    prompts, text_embeds = prompts_and_text(models, device)
    with torch.inference_mode():
        model(**prompts, text_embeds=text_embeds)  # warm-up, not recorded
        handles = [m.register_forward_pre_hook(before(n)) for n, m in parts.items()]
        handles += [m.register_forward_hook(after(n)) for n, m in parts.items()]
        for _ in range(repeats):
            model(**prompts, text_embeds=text_embeds)
        for handle in handles:
            handle.remove()
    part_seconds = {name: statistics.median(values) for name, values in seconds.items()}
    blocks = [part_seconds[f"block {i}"] for i in range(len(encoder.layers))]
    num_blocks = len(blocks)
    placements = {
        "all": num_blocks,
        "last half": num_blocks // 2,
        "last quarter": max(1, num_blocks // 4),
        "last 2": min(2, num_blocks),
    }
    full_pass = part_seconds["patch_embed"] + sum(blocks) + part_seconds["neck"]
    estimates = {}
    for placement, adapted in placements.items():
        shared = part_seconds["patch_embed"] + sum(blocks[: num_blocks - adapted])
        per_class = sum(blocks[num_blocks - adapted :]) + part_seconds["neck"]
        estimates[placement] = {
            "adapted_blocks": adapted,
            "classes": {
                str(n): {
                    "seconds": shared + n * per_class,
                    "ratio_to_full_passes": (shared + n * per_class) / (n * full_pass),
                }
                for n in CLASS_COUNTS
            },
        }
    return {"part_seconds": part_seconds, "full_pass_s": full_pass, "estimates": estimates, "n": repeats}


def report(section: dict[str, Any]) -> list[str]:
    parts = section["part_seconds"]
    block_times = [value for name, value in parts.items() if name.startswith("block ")]
    counts = list(first_value(section["estimates"])["classes"])
    lines = [
        f"\n### Image-encoder cost of N classes of one image, by adapter placement (parts timed in one forward, "
        f"median of {section['n']}; load {section['load']})\n",
        f"One full pass {format_seconds(section['full_pass_s'])}: patch embedding "
        f"{format_seconds(parts['patch_embed'])}, blocks {format_seconds(min(block_times))}–"
        f"{format_seconds(max(block_times))} (global attention the slowest), neck {format_seconds(parts['neck'])}.\n",
        "| adapters in | " + " | ".join(f"N = {n}" for n in counts) + " |",
        "|---|" + "---|" * len(counts),
    ]
    for placement, row in section["estimates"].items():
        cells = [
            f"{format_seconds(row['classes'][n]['seconds'])} ({row['classes'][n]['ratio_to_full_passes']:.2f}×)"
            for n in counts
        ]
        blocks_label = f"{row['adapted_blocks']} block" + ("s" if row["adapted_blocks"] > 1 else "")
        lines.append(f"| {placement} ({blocks_label}) | " + " | ".join(cells) + " |")
    return lines


SECTION = Section(
    name="placement",
    summary="time of each image-encoder part (patch embedding, every block, neck) in one forward, and from it the "
    "image-encoder cost of N = 1, 4, 16 classes of one image with adapters in all, the last half, the last quarter "
    "and the last 2 blocks",
    measure=measure,
    report=report,
)
