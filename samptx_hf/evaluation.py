"""Evaluate a SAM-PTx model on a dataset of (image, mask, class name) rows: mIoU per class, and the COD metrics."""

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from .data import SamPtxDataCollator
from .data._utils import to_binary_mask
from .hub import EVAL_RESULTS_NAME
from .metrics import load_metric
from .processing_samptx import image_processor_for_sam_config

EVAL_TABLE_NAME = "eval_results.md"


@torch.no_grad()
def evaluate_model(
    model: Callable[..., Any],
    dataset: datasets.Dataset,
    batch_size: int = 8,
    metrics: Sequence[str] = ("mean_iou",),
    threshold: float = 0.0,
    num_points: int = 1,
    seed: int = 0,
    image_processor: Any = None,
    dataset_name: str | None = None,
    output_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Segment every row of `dataset` at its evaluation point(s) and its class name, and score the masks.

    Each row is prompted with the interior point of its mask farthest from the boundary (`SamPtxDataCollator` with
    `train=False`) and its class name; each distinct class name is encoded once (`model.encode_text`). Masks are
    compared at the original image size.

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one; put in eval mode for the call.
        dataset: Rows with `image`, `mask` (non-zero = foreground) and `class_name`, as `samptx_hf.data` loads.
        batch_size: Rows per forward pass.
        metrics: `"mean_iou"` (binary masks at `threshold`) and/or `"cod"` (S-, E-, weighted F-measure and MAE on
            the sigmoid probabilities), see `samptx_hf.metrics`.
        threshold: Logit above which a pixel is in the predicted mask.
        num_points: Positive points per row (the first is the interior point, the others seeded by `seed`).
        seed: Seed of the extra points.
        image_processor: SAM's image processor; by default the one matching `model.config.sam_config`.
        dataset_name: Name recorded in the results (and the model card).
        output_dir: When given, `eval_results.json` and `eval_results.md` (the tables) are written there.
        progress: Called as `progress(done, total)` after each batch.

    Returns:
        `{"dataset": dataset_name, "num_samples": int, "metrics": {name: float}, "per_class": {class_name:
        {"iou": float, "num_samples": int}}}`; `metrics` holds `mean_iou` (mean over classes of the per-class IoU,
        the paper's mIoU) and `mean_sample_iou`, and with `"cod"` the COD metrics.

    Raises:
        ValueError: On an empty dataset, a dataset without the needed columns, an unknown metric or a batch size
            below 1.
    """
    missing = {"image", "mask", "class_name"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset lacks the columns {sorted(missing)}, expected image, mask and class_name")
    if len(dataset) == 0:
        raise ValueError("dataset is empty, expected at least one row")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}, expected at least 1")
    metric_modules = {name: load_metric(name, keep_in_memory=True) for name in metrics}
    if "mean_iou" not in metric_modules:
        metric_modules["mean_iou"] = load_metric("mean_iou", keep_in_memory=True)  # per-class table

    image_processor = image_processor or image_processor_for_sam_config(model.config.sam_config)
    collator = SamPtxDataCollator(image_processor, num_points=num_points, train=False, seed=seed)
    class_counts = Counter(dataset["class_name"])
    class_names = sorted(class_counts)
    text_embeds_by_class = dict(zip(class_names, model.encode_text(class_names), strict=True))
    device = next(model.parameters()).device

    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(dataset), batch_size):
            rows = [dataset[index] for index in range(start, min(start + batch_size, len(dataset)))]
            batch = collator(rows)
            outputs = model(
                pixel_values=batch["pixel_values"].to(device),
                input_points=batch["input_points"].to(device),
                input_labels=batch["input_labels"].to(device),
                text_embeds=torch.stack([text_embeds_by_class[name] for name in batch["class_names"]]),
            )
            logits = image_processor.post_process_masks(
                list(outputs.pred_masks[:, :1, :1].float().cpu()),  # per row: (1, 1, height, width), low resolution
                batch["original_sizes"],
                batch["reshaped_input_sizes"],
                binarize=False,
            )  # per row: (1, 1, original_height, original_width)
            logits = [row_logits[0, 0].numpy() for row_logits in logits]
            references = [to_binary_mask(row["mask"]) for row in rows]
            for name, metric in metric_modules.items():
                if name == "mean_iou":
                    metric.add_batch(
                        predictions=[row_logits > threshold for row_logits in logits],
                        references=references,
                        class_names=batch["class_names"],
                    )
                else:
                    metric.add_batch(
                        predictions=[1 / (1 + np.exp(-row_logits.astype(np.float64))) for row_logits in logits],
                        references=references,
                    )
            if progress is not None:
                progress(start + len(rows), len(dataset))
    finally:
        model.train(was_training)

    computed = {name: metric.compute() for name, metric in metric_modules.items()}
    mean_iou = computed.pop("mean_iou")
    results = {
        "dataset": dataset_name,
        "num_samples": mean_iou["num_samples"],
        "metrics": {"mean_iou": mean_iou["mean_iou"], "mean_sample_iou": mean_iou["mean_sample_iou"]},
        "per_class": {
            name: {"iou": iou, "num_samples": class_counts[name]} for name, iou in mean_iou["per_class_iou"].items()
        },
    }
    for values in computed.values():
        results["metrics"].update({key: value for key, value in values.items() if key != "num_samples"})
    if output_dir is not None:
        write_eval_results(results, output_dir)
    return results


def format_eval_results(results: dict[str, Any]) -> str:
    """The results of [`evaluate_model`] as two markdown tables: overall metrics, then IoU per class."""
    title = f"Evaluation on {results['dataset']}" if results.get("dataset") else "Evaluation"
    lines = [f"## {title} ({results['num_samples']} samples)", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in results["metrics"].items()]
    lines += ["", "| class | IoU | samples |", "|---|---|---|"]
    lines += [
        f"| {name} | {values['iou']:.4f} | {values['num_samples']} |" for name, values in results["per_class"].items()
    ]
    return "\n".join(lines) + "\n"


def write_eval_results(results: dict[str, Any], output_dir: str | os.PathLike) -> Path:
    """Write `eval_results.json` and `eval_results.md` into `output_dir` (created if missing); return the JSON path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVAL_TABLE_NAME).write_text(format_eval_results(results))
    json_path = output_dir / EVAL_RESULTS_NAME
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    return json_path


__all__ = ["evaluate_model", "format_eval_results", "write_eval_results"]
