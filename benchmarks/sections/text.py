"""Text cost: encoding the class prompts once (cached `encode_text`) against once per sample, over an epoch."""

from typing import Any

import torch
from common import Section, SizeRun, format_seconds, time_in_rotation


def measure(run: SizeRun) -> dict[str, Any]:
    """Text cost over one epoch of `--epoch_samples` samples drawn from `--text_classes` class names, on the CPU.

    Half the run's repeats (at least one): an epoch is a thousand calls of the text encoder.
    """
    num_classes, epoch_samples = run.options.text_classes, run.options.epoch_samples
    model = run.models.samptx("parallel_text")
    class_names = [f"class{index}" for index in range(num_classes)]
    epoch = [class_names[index % num_classes] for index in range(epoch_samples)]
    tokenizer = model.get_tokenizer()

    def cached() -> None:
        model.text_cache.clear()
        model.encode_text(class_names)  # every class once
        for name in epoch:
            model.encode_text([name])  # a cache hit per sample

    @torch.no_grad()
    def per_sample() -> None:
        for name in epoch:
            tokens = tokenizer(model.format_prompts([name]), padding=True, return_tensors="pt")
            model.text_encoder(**tokens)

    timings = time_in_rotation(
        {"cached": cached, "per_sample": per_sample}, max(1, run.repeats // 2), torch.device("cpu")
    )
    timings["per_sample"]["ratio_to_cached"] = timings["per_sample"]["median_s"] / timings["cached"]["median_s"]
    prompt_tokens = tokenizer(model.format_prompts(class_names[:1]))["input_ids"][0]
    return {
        "timings": timings,
        "num_classes": num_classes,
        "epoch_samples": epoch_samples,
        "prompt_tokens": len(prompt_tokens),
    }


def report(section: dict[str, Any]) -> list[str]:
    timings, samples = section["timings"], section["epoch_samples"]
    cached, per_sample = timings["cached"]["median_s"], timings["per_sample"]["median_s"]
    return [
        f"\n### Text cost over an epoch of {samples} samples, {section['num_classes']} classes (prompt of "
        f"{section['prompt_tokens']} tokens; load {section['load']})\n",
        "| text encoding | epoch total | per sample | × cached |",
        "|---|---|---|---|",
        f"| once per class (`encode_text`, cached) | {format_seconds(cached)} | {format_seconds(cached / samples)} "
        "| 1.000 |",
        f"| once per sample | {format_seconds(per_sample)} | {format_seconds(per_sample / samples)} "
        f"| {timings['per_sample']['ratio_to_cached']:.1f} |",
    ]


SECTION = Section(
    name="text",
    summary="encoding the class prompts once (cached `encode_text`) vs once per sample over an epoch",
    measure=measure,
    report=report,
)
