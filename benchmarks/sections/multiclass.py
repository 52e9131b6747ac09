"""Several classes of one image: adapters in the last blocks (a shared trunk) against N full passes, and their masks.

The single-class overhead over `SamModel` is the `overhead` section's; results written before it moved there keep
it here (`single_class_ratio_to_sam`), and the report still shows it.
"""

from typing import Any

import torch
from common import DEFAULT_SHARED_LAYERS, Section, SizeRun, format_seconds, prompts_and_text, time_in_rotation

from samptx_hf import Method

DEFAULT_NUM_CLASSES = {"tiny": 8, "vit-b": 4}


def measure(run: SizeRun) -> dict[str, Any]:
    """N class prompts (`--num_classes`) on one image: shared trunk (adapters in `--shared_layers`) against N full
    passes.

    Variants, timed in rotation: adapters in every block as N forwards of batch 1 (N full image-encoder passes) and,
    at the tiny size or on a GPU, as one forward of batch N (still N full passes: every block reads the text; at
    ViT-B on a CPU its global-attention weights, N x 12 x 4096^2 floats per block, do not fit beside other work),
    and adapters in `--shared_layers` only as one forward of batch N (the blocks before them run once). Then the
    masks of the shared forward are compared with the same model's one-class-at-a-time masks.

    Batch N and batch 1 round differently in the matrix products (the CPU kernels block by batch size), so the
    logits agree to about 1e-6, not bit for bit; the result counts the mask pixels that differ and the largest
    logit at such a pixel (a pixel can only flip where its logit is that close to the threshold).
    """
    models, device = run.models, run.device
    num_classes = run.options.num_classes or DEFAULT_NUM_CLASSES[run.size]
    shared_layers = run.options.shared_layers or DEFAULT_SHARED_LAYERS[run.size]
    text_dim = models.text_config.projection_dim
    prompts, _ = prompts_and_text(models, device)  # the classes' texts differ: drawn below
    texts = torch.randn(num_classes, text_dim, generator=torch.Generator().manual_seed(1)).to(device)
    batched = {key: value.expand(num_classes, *value.shape[1:]) for key, value in prompts.items()}
    every_block = models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval()
    last_blocks = models.peft_model(Method.PARALLEL_TEXT.value, adapter_layers=shared_layers, init_weights=False)
    last_blocks = last_blocks.to(device).eval()
    num_blocks = models.sam_config.vision_config.num_hidden_layers
    adapted = last_blocks.peft_config["default"].layers_to_transform

    def separate(model: torch.nn.Module) -> list[torch.Tensor]:
        return [model(**prompts, text_embeds=texts[i : i + 1]) for i in range(num_classes)]

    variants = {
        "separate_all": lambda: separate(every_block),
        "batched_all": lambda: every_block(**batched, text_embeds=texts),
        "batched_shared": lambda: last_blocks(**batched, text_embeds=texts),
    }
    if models.size != "tiny" and device.type != "cuda":
        del variants["batched_all"]
    with torch.inference_mode():
        # One single-class forward of each model warms it up; a full round of every variant would double a ViT-B run.
        every_block(**prompts, text_embeds=texts[:1]), last_blocks(**prompts, text_embeds=texts[:1])
        timings = time_in_rotation(variants, run.repeats, device, warmup=0)
        shared, alone = last_blocks(**batched, text_embeds=texts), separate(last_blocks)
        alone_masks = torch.cat([output.pred_masks for output in alone])
        alone_scores = torch.cat([output.iou_scores for output in alone])
    differing = (shared.pred_masks > 0) != (alone_masks > 0)
    for timing in timings.values():
        timing["ratio_to_separate_all"] = timing["median_s"] / timings["separate_all"]["median_s"]
        timing["min_ratio_to_separate_all"] = timing["min_s"] / timings["separate_all"]["min_s"]
    return {
        "timings": timings,
        "num_classes": num_classes,
        "num_blocks": num_blocks,
        "shared_layers": shared_layers,
        "adapted_blocks": adapted,
        "masks_equal_one_class_at_a_time": bool(torch.equal(shared.pred_masks > 0, alone_masks > 0)),
        "max_abs_logit_difference": float((shared.pred_masks - alone_masks).abs().max()),
        "mask_pixels_differing": int(differing.sum()),
        "mask_pixels": differing.numel(),
        "max_abs_logit_at_differing_pixel": float(alone_masks[differing].abs().max()) if differing.any() else 0.0,
        "max_abs_score_difference": float((shared.iou_scores - alone_scores).abs().max()),
    }


def report(section: dict[str, Any]) -> list[str]:
    timings = section["timings"]
    n, blocks, adapted = section["num_classes"], section["num_blocks"], section["adapted_blocks"]
    names = {
        "separate_all": f"adapters in all {blocks} blocks, {n} forwards of batch 1",
        "batched_all": f"adapters in all {blocks} blocks, one forward of batch {n}",
        "batched_shared": f"adapters in blocks {adapted} only, one forward of batch {n} (shared trunk)",
    }
    lines = [
        f"\n### {n} classes of one image, {blocks} image-encoder blocks (median of "
        f"{timings['separate_all']['n']}; load {section['load']})\n",
        "| how | total | per class | min | × N full passes (median, min) |",
        "|---|---|---|---|---|",
    ]
    for name, label in names.items():
        if name not in timings:
            continue
        row = timings[name]
        lines.append(
            f"| {label} | {format_seconds(row['median_s'])} | {format_seconds(row['median_s'] / n)} "
            f"| {format_seconds(row['min_s'])} | {row['ratio_to_separate_all']:.3f}, "
            f"{row['min_ratio_to_separate_all']:.3f} |"
        )
    if "mask_pixels_differing" in section:
        masks = (
            f"{section['mask_pixels_differing']:,} of {section['mask_pixels']:,} low-resolution mask pixels "
            "differ between the shared forward and one class at a time"
        )
        if section["mask_pixels_differing"]:
            masks += f", each with |logit| ≤ {section['max_abs_logit_at_differing_pixel']:.1e}"
    else:  # results before the differing pixels were counted
        masks = f"Shared-trunk masks equal one class at a time: {section['masks_equal_one_class_at_a_time']}"
    paragraph = (
        f"{masks} (largest logit difference {section['max_abs_logit_difference']:.1e}, score "
        f"{section['max_abs_score_difference']:.1e})."
    )
    if "single_class_ratio_to_sam" in section:  # results from before the overhead section took this measurement
        single = section["single_class_ratio_to_sam"]
        paragraph += (
            f" One class, adapters in every block, against `SamModel`: {single['median_ratio']:.3f}× (median of "
            f"{single['n']} interleaved pairs, {min(single['ratios']):.3f}–{max(single['ratios']):.3f})."
        )
    return lines + ["", paragraph]


SECTION = Section(
    name="multiclass",
    summary="N class prompts on one image: adapters in the last blocks (shared trunk) vs N full passes, and the "
    "masks of the shared trunk against one class at a time",
    measure=measure,
    report=report,
)
