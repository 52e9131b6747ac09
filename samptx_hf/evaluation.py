"""Evaluate a SAM-PTx model on a dataset of (image, mask, class name) rows: mIoU per class, and the COD metrics."""

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from .data import SamPtxDataCollator
from .data.conversion import to_binary_mask
from .hub import EVAL_RESULTS_NAME
from .inference import eval_mode
from .interactive_evaluation import evaluate_clicks
from .metrics import load_metric
from .processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_threshold,
    image_processor_for_sam_config,
)

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
    num_clicks: int | None = None,
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
        num_clicks: Also run the interactive protocol with this many simulated clicks per row
            (`samptx_hf.interactive_evaluation`): `miou@1`..`miou@N`, `noc@85`, `noc@90`, `nof@85`, `nof@90` join
            `metrics`.

    Returns:
        `{"dataset": dataset_name, "num_samples": int, "metrics": {name: float}, "per_class": {class_name:
        {"iou": float, "num_samples": int}}}`; `metrics` holds `mean_iou` (mean over classes of the per-class IoU,
        the paper's mIoU) and `mean_sample_iou`, and with `"cod"` the COD metrics.

    Raises:
        ValueError: On an empty dataset, a dataset without the needed columns, an unknown metric, a batch size
            below 1, a NaN `threshold`, or an `output_dir` that is a file (all before any sample is segmented).
        TypeError: On a `threshold` that is not a real number.
    """
    threshold = check_threshold(threshold)
    if output_dir is not None:
        check_output_dir(output_dir)
    missing = {"image", "mask", "class_name"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset lacks the columns {sorted(missing)}, expected image, mask and class_name")
    if len(dataset) == 0:
        raise ValueError("dataset is empty, expected at least one row")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}, expected at least 1")
    if num_clicks is not None and (isinstance(num_clicks, bool) or not isinstance(num_clicks, int) or num_clicks < 1):
        raise ValueError(f"num_clicks={num_clicks!r}, expected a whole number of clicks of at least 1")
    metric_modules = {name: load_metric(name, keep_in_memory=True) for name in metrics}
    if "mean_iou" not in metric_modules:
        metric_modules["mean_iou"] = load_metric("mean_iou", keep_in_memory=True)  # per-class table

    image_processor = image_processor or image_processor_for_sam_config(model.config.sam_config)
    check_image_processor_matches(image_processor, model.config.sam_config)
    collator = SamPtxDataCollator(image_processor, num_points=num_points, train=False, seed=seed)
    class_counts = Counter(dataset["class_name"])
    text_embeds_by_class = text_embeddings_by_class(model, class_counts)

    with eval_mode(model):
        for start in range(0, len(dataset), batch_size):
            rows = [dataset[index] for index in range(start, min(start + batch_size, len(dataset)))]
            batch = collator(rows)
            logits = predict_batch(model, batch, text_embeds_by_class, image_processor)
            score_batch(metric_modules, logits, batch["masks"], batch["class_names"], threshold)
            if progress is not None:
                progress(start + len(rows), len(dataset))

    results = compute_results(metric_modules, class_counts, dataset_name)
    if num_clicks is not None:
        processor = SamPtxProcessor(image_processor, model.get_tokenizer(), model.config.prompt_template)
        results["metrics"].update(evaluate_clicks(model, dataset, num_clicks, processor, threshold))
    if output_dir is not None:
        write_eval_results(results, output_dir)
    return results


def text_embeddings_by_class(model: Any, class_names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Class name → text embedding; the frozen text encoder runs once per distinct class name."""
    names = sorted(set(class_names))
    return dict(zip(names, model.encode_text(names), strict=True))


@torch.no_grad()
def predict_batch(
    model: Callable[..., Any],
    batch: dict[str, Any],
    text_embeds_by_class: dict[str, torch.Tensor],
    image_processor: Any,
) -> list[np.ndarray]:
    """Mask logits of a batch from `SamPtxDataCollator`, each `(height, width)` at its row's original image size.

    The one prediction step of every held-out evaluation (`evaluate_model`, the training loop's evaluations).
    """
    device = next(model.parameters()).device
    outputs = model(
        pixel_values=batch["pixel_values"].to(device),
        input_points=batch["input_points"].to(device),
        input_labels=batch["input_labels"].to(device),
        text_embeds=torch.stack([text_embeds_by_class[name] for name in batch["class_names"]]).to(device),
    )
    logits = image_processor.post_process_masks(
        list(outputs.pred_masks[:, :1, :1].float().cpu()),  # per row: (1, 1, height, width), low resolution
        batch["original_sizes"].cpu(),
        batch["reshaped_input_sizes"].cpu(),
        binarize=False,
    )  # per row: (1, 1, original_height, original_width)
    return [row_logits[0, 0].numpy() for row_logits in logits]


def score_batch(
    metric_modules: dict[str, Any],
    logits: Sequence[np.ndarray],
    references: Sequence[np.ndarray],
    class_names: Sequence[str],
    threshold: float = 0.0,
) -> None:
    """Add predicted mask logits and boolean references to the metrics (`mean_iou` binarises at `threshold`, the
    COD metrics take sigmoid probabilities)."""
    for name, metric in metric_modules.items():
        if name == "mean_iou":
            metric.add_batch(
                predictions=[row_logits > threshold for row_logits in logits],
                references=list(references),
                class_names=list(class_names),
            )
        else:
            metric.add_batch(
                predictions=[1 / (1 + np.exp(-row_logits.astype(np.float64))) for row_logits in logits],
                references=list(references),
            )


def compute_results(
    metric_modules: dict[str, Any], class_counts: Mapping[str, int], dataset_name: str | None = None
) -> dict[str, Any]:
    """The results dictionary of [`evaluate_model`] from metrics that `score_batch` filled."""
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
    return results


def score_reference_masks(dataset: datasets.Dataset, strategies: Mapping[str, str]) -> dict[str, float]:
    """mIoU of fixed answers taken from the dataset itself, e.g. the text-blind strategies of the built-in task.

    Args:
        dataset: Rows with `mask`, `class_name` and the columns that `strategies` names.
        strategies: Strategy name → column holding its answer mask for each row (e.g.
            `samptx_hf.data.TEXT_BLIND_STRATEGIES`).

    Returns:
        Strategy name → mIoU (mean over classes), scored as `evaluate_model` scores a model.

    Raises:
        ValueError: When the dataset lacks a column that `strategies` names.
    """
    missing = sorted(set(strategies.values()) - set(dataset.column_names))
    if missing:
        raise ValueError(f"dataset lacks the columns {missing} named by the strategies {dict(strategies)}")
    references, class_names = [to_binary_mask(mask) for mask in dataset["mask"]], dataset["class_name"]
    scores = {}
    for name, column in strategies.items():
        metric = load_metric("mean_iou", keep_in_memory=True)
        metric.add_batch(
            predictions=[to_binary_mask(mask) for mask in dataset[column]],
            references=references,
            class_names=class_names,
        )
        scores[name] = metric.compute()["mean_iou"]
    return scores


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


def check_output_dir(output_dir: str | os.PathLike, name: str = "output_dir") -> None:
    """Refuse an `output_dir` that [`write_eval_results`] could not create or write into: a file, or a path under
    one. Checked before an evaluation starts, so that a long run is not lost at its end.

    Raises:
        ValueError: Naming `name`, the path, and the file in the way.
    """
    path = Path(output_dir)
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                what = "is a file" if existing == path else f"lies under the file {str(existing)!r}"
                raise ValueError(
                    f"{name} {str(path)!r} {what}, expected a folder (created if missing) to write "
                    f"{EVAL_RESULTS_NAME} and {EVAL_TABLE_NAME} into"
                )
            return


def write_eval_results(results: dict[str, Any], output_dir: str | os.PathLike) -> Path:
    """Write `eval_results.json` and `eval_results.md` into `output_dir` (created if missing); return the JSON path.

    Raises:
        ValueError: When `output_dir` is a file or lies under one.
    """
    check_output_dir(output_dir)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVAL_TABLE_NAME).write_text(format_eval_results(results))
    json_path = output_dir / EVAL_RESULTS_NAME
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    return json_path


__all__ = [
    "check_output_dir",
    "compute_results",
    "evaluate_model",
    "format_eval_results",
    "predict_batch",
    "score_reference_masks",
    "score_batch",
    "text_embeddings_by_class",
    "write_eval_results",
]
