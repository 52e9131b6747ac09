"""Inference: one forward of transformers' `SamModel`, of SAM-PTx (Parallel-Text r=32) and of LoRA on the same MLPs."""

from typing import Any

import torch
from common import (
    ADAPTER_R,
    LORA,
    Section,
    SizeRun,
    encoder_adapter_parameters,
    first_value,
    format_seconds,
    prompts_and_text,
    time_in_rotation,
)

from samptx_hf import Method

SAM = "SamModel (transformers)"


def measure(run: SizeRun) -> dict[str, Any]:
    """One forward (image encoder, prompt encoder, mask decoder), batch 1, one point, precomputed text."""
    models, device = run.models, run.device
    prompts, text_embeds = prompts_and_text(models, device)
    sam = models.sam.to(device)
    wrapper = models.samptx("none").to(device)
    samptx = models.peft_model(Method.PARALLEL_TEXT.value).to(device).eval()
    lora = models.peft_model(LORA, train_decoder=False).to(device).eval()
    lora_name = f"LoRA r={models.lora_rank()} on lin1+lin2 (unmerged)"
    variants = {
        SAM: lambda: sam(**prompts, multimask_output=False),
        "SamPtxForTextSegmentation, no adapter": lambda: wrapper(**prompts),
        f"SAM-PTx, Parallel-Text r={ADAPTER_R}": lambda: samptx(**prompts, text_embeds=text_embeds),
        lora_name: lambda: lora(**prompts),
    }
    with torch.inference_mode():
        timings = time_in_rotation(variants, run.repeats, device)
    baseline, lora_timing = timings[SAM], timings[lora_name]
    for timing in timings.values():
        timing["ratio_to_sam"] = timing["median_s"] / baseline["median_s"]
        timing["ratio_to_lora"] = timing["median_s"] / lora_timing["median_s"]
        # On a shared machine other work only ever adds time: the fastest run is the least disturbed.
        timing["min_ratio_to_sam"] = timing["min_s"] / baseline["min_s"]
        timing["min_ratio_to_lora"] = timing["min_s"] / lora_timing["min_s"]
    adapter_params = {
        "parallel_text": encoder_adapter_parameters(samptx),
        "lora": encoder_adapter_parameters(lora),
    }
    return {"variants": timings, "encoder_adapter_parameters": adapter_params, "lora_rank": models.lora_rank()}


def report(section: dict[str, Any]) -> list[str]:
    lines = [
        f"\n### Inference, batch 1 (median of {first_value(section['variants'])['n']}, load {section['load']})\n",
        "| model | median | min | × SamModel (median, min) | × LoRA (median, min) | encoder adapter params |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in section["variants"].items():
        params = ""
        if name.startswith("SAM-PTx"):
            params = f"{section['encoder_adapter_parameters']['parallel_text']:,}"
        elif name.startswith("LoRA"):
            params = f"{section['encoder_adapter_parameters']['lora']:,}"
        to_sam, to_lora = f"{row['ratio_to_sam']:.3f}", f"{row['ratio_to_lora']:.3f}"
        if "min_ratio_to_sam" in row:  # results before the minima were recorded have medians only
            to_sam += f", {row['min_ratio_to_sam']:.3f}"
            to_lora += f", {row['min_ratio_to_lora']:.3f}"
        lines.append(
            f"| {name} | {format_seconds(row['median_s'])} | {format_seconds(row['min_s'])} | {to_sam} | {to_lora} "
            f"| {params} |"
        )
    return lines


SECTION = Section(
    name="inference",
    summary="forward of transformers' `SamModel` vs SAM-PTx (Parallel-Text r=32) vs LoRA on the same MLPs",
    measure=measure,
    report=report,
)
