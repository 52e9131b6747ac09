"""Single-class overhead: SAM-PTx (adapters in every block, and in `--shared_layers`) over plain `SamModel`, batch 1.

The one place this is measured: the median of interleaved pairs is steadier than a ratio of medians on a shared
machine.
"""

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from common import DEFAULT_SHARED_LAYERS, Section, SizeRun, prompts_and_text, synchronize

from samptx_hf import Method


def median_of_pair_ratios(
    baseline: Callable[[], Any], candidate: Callable[[], Any], pairs: int, device: torch.device
) -> dict[str, float]:
    """Median of `candidate / baseline` over `pairs` interleaved pairs (who goes first alternates), after a warm-up."""
    baseline(), candidate()
    ratios = []
    for pair in range(pairs):
        seconds = {}
        for name in ("baseline", "candidate") if pair % 2 == 0 else ("candidate", "baseline"):
            function = baseline if name == "baseline" else candidate
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            seconds[name] = time.perf_counter() - start
        ratios.append(seconds["candidate"] / seconds["baseline"])
    return {"median_ratio": statistics.median(ratios), "ratios": ratios, "n": pairs}


def measure(run: SizeRun) -> dict[str, Any]:
    """Single-class inference time of SAM-PTx over plain `SamModel`: median of `--pairs` interleaved pairs each
    (default 2 x repeats + 1), adapters with random non-zero weights."""
    models, device = run.models, run.device
    shared_layers = run.options.shared_layers or DEFAULT_SHARED_LAYERS[run.size]
    pairs = run.options.pairs or 2 * run.repeats + 1
    prompts, text_embeds = prompts_and_text(models, device)
    sam = models.sam.to(device)
    candidates = {
        "every block": models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval(),
        shared_layers: models.peft_model(Method.PARALLEL_TEXT.value, adapter_layers=shared_layers, init_weights=False)
        .to(device)
        .eval(),
    }
    with torch.inference_mode():
        ratios = {
            placement: median_of_pair_ratios(
                lambda: sam(**prompts, multimask_output=False),
                lambda model=model: model(**prompts, text_embeds=text_embeds),
                pairs,
                device,
            )
            for placement, model in candidates.items()
        }
    return {"ratios_to_sam": ratios}


def report(section: dict[str, Any]) -> list[str]:
    lines = [
        f"\n### One class, batch 1: SAM-PTx over `SamModel` (median of interleaved pairs; load {section['load']})\n",
        "| adapters in | × SamModel (median) | pairs | range |",
        "|---|---|---|---|",
    ]
    for placement, row in section["ratios_to_sam"].items():
        spread = f"{min(row['ratios']):.3f}–{max(row['ratios']):.3f}"
        lines.append(f"| {placement} | {row['median_ratio']:.3f} | {row['n']} | {spread} |")
    return lines


SECTION = Section(
    name="overhead",
    summary="one class, batch 1: SAM-PTx (adapters in every block, and in `--shared_layers`) over plain `SamModel`, "
    "as the median of interleaved pairs (`--pairs`)",
    measure=measure,
    report=report,
)
