"""Evaluate a SAM-PTx model on a dataset of (image, mask, class name) rows: mIoU per class, the COD metrics, and with
text-only prompts the presence answers and the semantic mIoU over the vocabulary."""

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from ..data import SamPtxDataCollator
from ..data.collator import EVALUATION_PROMPT_MODES
from ..data.conversion import to_binary_mask
from ..hub import EVAL_RESULTS_NAME
from ..inference.engine import eval_mode
from ..processing.input_checks import check_output_path
from ..processing.processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_threshold,
    image_processor_for_sam_config,
)
from .interactive import evaluate_clicks
from .metrics import PRESENCE_THRESHOLD, SemanticIoU, load_metric, presence_metrics

EVAL_TABLE_NAME = "eval_results.md"
PROMPT_DESCRIPTIONS = {
    "point": "interior point and class name",
    "text": "class name alone (text-only)",
    "mixed": "class name, with the interior point for some rows",
    "paired": "class name alone (text-only); the point task scored apart",
}


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
    *,
    prompt_mode: str = "point",
    absent_class_fraction: float = 0.0,
    class_names: Sequence[str] | None = None,
    semantic: bool = True,
) -> dict[str, Any]:
    """Segment every row of `dataset` at its evaluation prompt and its class name, and score the masks.

    With `prompt_mode="point"`, each row is prompted with the interior point of its mask farthest from the boundary
    (`SamPtxDataCollator` with `train=False`) and its class name; with `"text"`, with its class name alone (the
    target is then every instance of the class, the row's `class_mask` where it has one); `"mixed"` keeps the point
    of some rows. With `absent_class_fraction > 0` some rows name a class of the vocabulary that is absent from their
    image (empty target). The collator's choices are fixed per row, so every evaluation sees the same pairs. Each
    distinct class name is encoded once (`model.encode_text`). Masks are compared at the original image size; a model
    with a presence head that answers absent (presence probability < 0.5) predicts an empty mask.

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one; put in eval mode for the call.
        dataset: Rows with `image`, `mask` (non-zero = foreground) and `class_name`, as `samptx_hf.data` loads;
            `present_classes` for absent classes and the semantic mIoU.
        batch_size: Rows per forward pass.
        metrics: `"mean_iou"` (binary masks at `threshold`) and/or `"cod"` (S-, E-, weighted F-measure and MAE on
            the sigmoid probabilities), see `samptx_hf.evaluation.metrics`; both score the present pairs, with the
            run's prompts
            (text-only with `"text"`, the prompt-free COD protocol).
        threshold: Logit above which a pixel is in the predicted mask.
        num_points: Positive points per row (the first is the interior point, the others seeded by `seed`).
        seed: Seed of the extra points and of the collator's prompt and absent-class choices.
        image_processor: SAM's image processor; by default the one matching `model.config.sam_config`.
        dataset_name: Name recorded in the results (and the model card).
        output_dir: When given, `eval_results.json` and `eval_results.md` (the tables) are written there.
        progress: Called as `progress(done, total)` after each batch (rows, then the semantic pass's pairs).
        num_clicks: Also run the interactive protocol with this many simulated clicks per row
            (`samptx_hf.evaluation.interactive`): `miou@1`..`miou@N`, `noc@85`, `noc@90`, `nof@85`, `nof@90` join
            `metrics`.
        prompt_mode: `"point"`, `"text"` or `"mixed"` (see `SamPtxDataCollator`).
        absent_class_fraction: Share of rows that name a class absent from their image, in [0, 1); above 0 the
            dataset needs `present_classes`.
        class_names: The vocabulary absent classes (and the semantic mIoU's classes) come from; by default every
            `class_name` and `present_classes` entry of the dataset, sorted.
        semantic: With `prompt_mode="text"` and a `present_classes` column, also run [`semantic_evaluation`] (one
            text-only pass per image and class of the vocabulary); `False` skips it.

    Returns:
        `{"dataset": dataset_name, "num_samples": int, "prompt_mode": str, "num_present_pairs": int,
        "num_absent_pairs": int, "metrics": {name: float}, "per_class": {class_name: {"iou": float, "num_samples":
        int}}}`; `metrics` holds `mean_iou` (mean over classes of the per-class IoU over the present pairs, the
        paper's mIoU; missing when no pair is present) and `mean_sample_iou`, with `"cod"` the COD metrics, with a
        presence head `presence_precision`, `presence_recall`, `presence_f1` and `presence_mcc` over every evaluated
        pair (present and absent; `presence_counts` holds its `tp`, `fp`, `fn`, `tn`), and with the semantic pass
        `semantic_mean_iou` (`semantic_per_class`, `num_semantic_pairs` and `num_semantic_pairs_skipped` beside).

    Raises:
        ValueError: On an empty dataset, a dataset without the needed columns, an unknown metric or prompt mode, an
            `absent_class_fraction` outside [0, 1), `class_names` that are not a list of names, a batch size below
            1, a NaN `threshold`, or an `output_dir` that is a file (all before any sample is segmented).
        TypeError: On a `threshold` that is not a real number.
    """
    threshold = check_threshold(threshold)
    _check_evaluation_arguments(
        dataset, batch_size, num_clicks, prompt_mode, absent_class_fraction, class_names, output_dir
    )
    metric_modules = _load_metrics(metrics)

    image_processor = image_processor or image_processor_for_sam_config(model.config.sam_config)
    check_image_processor_matches(image_processor, model.config.sam_config)
    vocabulary = dataset_vocabulary(dataset) if class_names is None else list(dict.fromkeys(class_names))
    collator = SamPtxDataCollator(
        image_processor,
        num_points=num_points,
        train=False,
        seed=seed,
        prompt_mode=prompt_mode,
        absent_class_fraction=absent_class_fraction,
        class_names=vocabulary or None,
    )
    run_semantic = semantic and prompt_mode == "text" and "present_classes" in dataset.column_names
    needed_names = set(dataset["class_name"])
    if absent_class_fraction > 0 or run_semantic:
        needed_names |= set(vocabulary)
    text_embeds_by_class = text_embeddings_by_class(model, needed_names)

    present_counts, presence_probabilities, presence_references = _predict_and_score(
        model, dataset, collator, text_embeds_by_class, image_processor, metric_modules, batch_size, threshold, progress
    )
    results = _pair_results(metric_modules, present_counts, dataset_name, len(dataset), prompt_mode)
    if presence_probabilities:
        add_presence_results(results, presence_probabilities, presence_references)
    if run_semantic:
        semantic_results = semantic_evaluation(
            model,
            dataset,
            vocabulary,
            batch_size=batch_size,
            threshold=threshold,
            seed=seed,
            image_processor=image_processor,
            text_embeds_by_class=text_embeds_by_class,
            progress=progress,
        )
        add_semantic_results(results, semantic_results)
    if num_clicks is not None:
        processor = SamPtxProcessor(image_processor, model.get_tokenizer(), model.config.prompt_template)
        results["metrics"].update(evaluate_clicks(model, dataset, num_clicks, processor, threshold))
    if output_dir is not None:
        write_eval_results(results, output_dir)
    return results


def _check_evaluation_arguments(
    dataset: datasets.Dataset,
    batch_size: int,
    num_clicks: int | None,
    prompt_mode: str,
    absent_class_fraction: float,
    class_names: Sequence[str] | None,
    output_dir: str | os.PathLike | None,
) -> None:
    """Refuse [`evaluate_model`]'s arguments that cannot be evaluated, before any sample is segmented."""
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
    check_prompt_options(prompt_mode, absent_class_fraction, dataset)
    if class_names is not None and (isinstance(class_names, str) or not class_names):
        raise ValueError(f"class_names={class_names!r}, expected a non-empty sequence of class names (the vocabulary)")


def _load_metrics(metrics: Sequence[str]) -> dict[str, Any]:
    """The `evaluate` modules of `metrics`, with `mean_iou` always among them (it makes the per-class table)."""
    metric_modules = {name: load_metric(name, keep_in_memory=True) for name in metrics}
    if "mean_iou" not in metric_modules:
        metric_modules["mean_iou"] = load_metric("mean_iou", keep_in_memory=True)  # per-class table
    return metric_modules


def _predict_and_score(
    model: Callable[..., Any],
    dataset: datasets.Dataset,
    collator: SamPtxDataCollator,
    text_embeds_by_class: dict[str, torch.Tensor],
    image_processor: Any,
    metric_modules: dict[str, Any],
    batch_size: int,
    threshold: float,
    progress: Callable[[int, int], None] | None,
) -> tuple[Counter, list[float], list[bool]]:
    """Predict every row batch by batch and add the present pairs' masks to `metric_modules`; returns the present
    pairs per class, and the presence probabilities with their references (present or not; empty without a head)."""
    present_counts: Counter = Counter()
    presence_probabilities, presence_references = [], []
    with eval_mode(model):
        for start in range(0, len(dataset), batch_size):
            rows = [dataset[index] for index in range(start, min(start + batch_size, len(dataset)))]
            batch = collator(rows)
            prediction = predict_batch_with_presence(model, batch, text_embeds_by_class, image_processor)
            present = (batch["presence_labels"] > 0.5).tolist()
            kept = [index for index, is_present in enumerate(present) if is_present]
            if kept:
                score_batch(
                    metric_modules,
                    [prediction.mask_logits[index] for index in kept],
                    [batch["masks"][index] for index in kept],
                    [batch["class_names"][index] for index in kept],
                    threshold,
                )
            present_counts.update(batch["class_names"][index] for index in kept)
            if prediction.presence_probabilities is not None:
                presence_probabilities.extend(prediction.presence_probabilities.tolist())
                presence_references.extend(present)
            if progress is not None:
                progress(start + len(rows), len(dataset))
    return present_counts, presence_probabilities, presence_references


def _pair_results(
    metric_modules: dict[str, Any], present_counts: Counter, dataset_name: str | None, num_rows: int, prompt_mode: str
) -> dict[str, Any]:
    """The results of the scored pairs (no metric when every pair is absent) and the pair counts."""
    if present_counts:
        results = compute_results(metric_modules, present_counts, dataset_name)
    else:  # every pair absent: no mask to score, only presence answers
        results = {"dataset": dataset_name, "num_samples": 0, "metrics": {}, "per_class": {}}
    num_present = sum(present_counts.values())
    results.update(
        num_samples=num_rows,
        prompt_mode=prompt_mode,
        num_present_pairs=num_present,
        num_absent_pairs=num_rows - num_present,
    )
    return results


def add_presence_results(results: dict[str, Any], probabilities: Sequence[float], references: Sequence[bool]) -> None:
    """Add the presence precision, recall, F1 and MCC of `probabilities` against `references` (present or not, per
    pair) to `results["metrics"]`, and their confusion counts as `results["presence_counts"]`."""
    scores = presence_metrics(probabilities, references)
    results["metrics"].update({name: value for name, value in scores.items() if isinstance(value, float)})
    results["presence_counts"] = {key: scores[f"presence_{key}"] for key in ("tp", "fp", "fn", "tn")}


def add_semantic_results(results: dict[str, Any], semantic_results: dict[str, Any]) -> None:
    """Add what [`semantic_evaluation`] returned to `results`: `semantic_mean_iou` among the metrics, the per-class
    IoU and the pair counts beside them."""
    results["metrics"]["semantic_mean_iou"] = semantic_results["semantic_mean_iou"]
    results["semantic_per_class"] = semantic_results["per_class_iou"]
    results["num_semantic_pairs"] = semantic_results["num_pairs"]
    results["num_semantic_pairs_skipped"] = semantic_results["num_skipped_pairs"]


def check_prompt_options(prompt_mode: str, absent_class_fraction: float, dataset: datasets.Dataset) -> None:
    """Refuse a prompt mode or absent-class fraction that [`evaluate_model`] cannot run on `dataset`, before any
    sample is segmented.

    Raises:
        ValueError: On a `prompt_mode` outside `EVALUATION_PROMPT_MODES` (`"paired"` is for training), an
            `absent_class_fraction` that is not a number in [0, 1), or `absent_class_fraction > 0` on a dataset
            without `present_classes`.
    """
    if prompt_mode not in EVALUATION_PROMPT_MODES:
        raise ValueError(f"prompt_mode={prompt_mode!r}, expected one of {EVALUATION_PROMPT_MODES}")
    fraction = absent_class_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction < 1:
        raise ValueError(f"absent_class_fraction={fraction!r}, expected a fraction in [0, 1)")
    if fraction > 0 and "present_classes" not in dataset.column_names:
        raise ValueError(
            f"absent_class_fraction={fraction} needs a present_classes column (the classes of each image, to name "
            f"one that is absent), and the dataset has only {dataset.column_names}"
        )


def dataset_vocabulary(*splits: datasets.Dataset) -> list[str]:
    """The class names of one or several datasets (a run's splits), sorted: every `class_name`, and every
    `present_classes` entry where a dataset has the column."""
    names = set()
    for dataset in splits:
        names.update(dataset["class_name"])
        if "present_classes" in dataset.column_names:
            names.update(name for classes in dataset["present_classes"] for name in classes or ())
    return sorted(names)


def text_embeddings_by_class(model: Any, class_names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Class name → text embedding; the frozen text encoder runs once per distinct class name."""
    names = sorted(set(class_names))
    return dict(zip(names, model.encode_text(names), strict=True))


@dataclass
class BatchPrediction:
    """The answers of a model to a batch: masks and, with a presence head, presence probabilities."""

    mask_logits: list[np.ndarray]  # per row (original_height, original_width); -inf everywhere where absent
    presence_probabilities: np.ndarray | None  # (batch,) sigmoid of presence_logits; None without a presence head


@torch.no_grad()
def predict_batch_with_presence(
    model: Callable[..., Any],
    batch: dict[str, Any],
    text_embeds_by_class: dict[str, torch.Tensor],
    image_processor: Any,
) -> BatchPrediction:
    """Mask logits and presence answers of a batch from `SamPtxDataCollator`, each mask `(height, width)` at its
    row's original image size.

    The one prediction step of every held-out evaluation (`evaluate_model`, `semantic_evaluation`, the training
    loop's evaluations). As `segment` does, a row whose presence probability is below 0.5 gets an empty answer: its
    logits are `-inf` (probability 0) everywhere.
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
    mask_logits = [row_logits[0, 0].numpy() for row_logits in logits]
    presence_logits = getattr(outputs, "presence_logits", None)  # (batch, point_batch, 1)
    if presence_logits is None:
        return BatchPrediction(mask_logits, None)
    probabilities = torch.sigmoid(presence_logits[:, 0, 0].float()).cpu().numpy()  # (batch,)
    mask_logits = [
        row_logits if probability >= PRESENCE_THRESHOLD else np.full_like(row_logits, -np.inf)
        for row_logits, probability in zip(mask_logits, probabilities, strict=True)
    ]
    return BatchPrediction(mask_logits, probabilities)


@torch.no_grad()
def semantic_evaluation(
    model: Callable[..., Any],
    dataset: datasets.Dataset,
    class_names: Sequence[str],
    *,
    batch_size: int = 8,
    threshold: float = 0.0,
    seed: int = 0,
    image_processor: Any = None,
    text_embeds_by_class: dict[str, torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Semantic mIoU: every class of `class_names` prompted by its name alone in every image, ADE20K's protocol.

    Rows are grouped into images by `image_id` (one image per row without the column). For each image and each
    class of the vocabulary, the reference is:

    - empty when the class is not in the image's `present_classes` (an absent class);
    - its mask in the row's `present_class_masks` (one mask per entry of `present_classes`, in order) when the data
      has that column (the built-in task);
    - else the union of the image's rows that name the class (their `class_mask`, else their `mask`) when some row
      does;
    - unknown otherwise (a present class no row names): the pair is skipped and counted in `num_skipped_pairs`.

    The prediction is the model's text-only mask, empty where its presence head answers absent. Per class,
    intersections and unions are summed over the images (`samptx_hf.evaluation.metrics.SemanticIoU`): a class painted
    in an
    image without it adds to the union, a false positive; the mean is over the classes with a non-zero union.

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one.
        dataset: Rows with `image`, `mask`, `class_name` and `present_classes` (and `image_id`, `class_mask` where
            the data has them).
        class_names: The vocabulary.
        batch_size: (image, class) pairs per forward pass.
        threshold: Logit above which a pixel is in the predicted mask.
        seed: Seed of the collator (text-only prompts draw nothing; kept for the batches' reproducibility).
        image_processor: SAM's image processor; by default the one matching `model.config.sam_config`.
        text_embeds_by_class: Class name → text embedding; by default each class of `class_names` is encoded once.
        progress: Called as `progress(done, total)` after each batch, in (image, class) pairs.

    Returns:
        `{"semantic_mean_iou": float, "per_class_iou": {class_name: float}, "num_pairs": int, "num_skipped_pairs":
        int}`.

    Raises:
        ValueError: On a dataset without `present_classes` (or the columns of `evaluate_model`), an empty
            vocabulary, or a batch size below 1.
    """
    missing = {"image", "mask", "class_name", "present_classes"} - set(dataset.column_names)
    if missing:
        raise ValueError(
            f"dataset lacks the columns {sorted(missing)}, expected image, mask, class_name and present_classes (the "
            "classes of each image) for the semantic mIoU"
        )
    if isinstance(class_names, str) or not class_names:
        raise ValueError(f"class_names={class_names!r}, expected a non-empty sequence of class names")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}, expected at least 1")
    class_names = list(dict.fromkeys(class_names))
    image_processor = image_processor or image_processor_for_sam_config(model.config.sam_config)
    collator = SamPtxDataCollator(image_processor, train=False, seed=seed, prompt_mode="text")
    text_embeds_by_class = text_embeds_by_class or text_embeddings_by_class(model, class_names)
    rows_by_image = _rows_by_image(dataset)
    present_column = dataset["present_classes"]  # read without decoding the images
    present_by_image = {
        image_id: set().union(*(present_column[index] or () for index in indices))
        for image_id, indices in rows_by_image.items()
    }
    total = sum(
        sum(name not in present_by_image[image_id] for name in class_names) for image_id in rows_by_image
    )  # absent pairs; the present pairs with a known union are added as each image is read
    metric, skipped, done = SemanticIoU(), 0, 0
    pending: list[dict[str, Any]] = []

    def score(pairs: list[dict[str, Any]]) -> None:
        nonlocal done
        prediction = predict_batch_with_presence(model, collator(pairs), text_embeds_by_class, image_processor)
        for pair, row_logits in zip(pairs, prediction.mask_logits, strict=True):
            metric.add(row_logits > threshold, pair["mask"], pair["class_name"])
        done += len(pairs)
        if progress is not None:
            progress(done, total)

    with eval_mode(model):
        for image_id, indices in rows_by_image.items():
            pairs, num_skipped = _semantic_pairs(dataset, image_id, indices, class_names, present_by_image[image_id])
            skipped += num_skipped
            total += sum(pair["class_name"] in present_by_image[image_id] for pair in pairs)
            pending.extend(pairs)
            while len(pending) >= batch_size:
                score(pending[:batch_size])
                pending = pending[batch_size:]
        if pending:
            score(pending)
    return {**metric.compute(), "num_skipped_pairs": skipped}


def _rows_by_image(dataset: datasets.Dataset) -> dict[str, list[int]]:
    """Image id → indices of its rows, in dataset order; each row its own image without an `image_id` column."""
    if "image_id" not in dataset.column_names:
        return {str(index): [index] for index in range(len(dataset))}
    rows_by_image: dict[str, list[int]] = defaultdict(list)
    for index, image_id in enumerate(dataset["image_id"]):
        rows_by_image[str(image_id)].append(index)
    return dict(rows_by_image)


def _semantic_pairs(
    dataset: datasets.Dataset, image_id: str, indices: Sequence[int], class_names: Sequence[str], present: set[str]
) -> tuple[list[dict[str, Any]], int]:
    """The collator rows of one image's (image, class) pairs with a known reference (see `semantic_evaluation`),
    and the number of present classes skipped for want of a row that names them."""
    rows = [dataset[index] for index in indices]
    image = rows[0]["image"]
    unions: dict[str, np.ndarray] = {}
    for row in rows:
        if row.get("present_class_masks") is not None:
            masks = row["present_class_masks"]
            if len(masks) != len(row["present_classes"]):
                raise ValueError(
                    f"row {image_id!r} has {len(masks)} present_class_masks for {len(row['present_classes'])} "
                    "present_classes, expected one mask per present class"
                )
            for present_name, mask in zip(row["present_classes"], masks, strict=True):
                unions[str(present_name)] = to_binary_mask(mask)
            continue
        name = str(row["class_name"])
        target = to_binary_mask(row["mask"] if row.get("class_mask") is None else row["class_mask"])
        unions[name] = unions[name] | target if name in unions else target
    pairs, skipped = [], 0
    for name in class_names:
        if name in present and name not in unions:
            skipped += 1
            continue
        reference = unions[name] if name in present else np.zeros_like(next(iter(unions.values())))
        pairs.append(
            {"image": image, "mask": reference, "class_name": name, "image_id": image_id, "present_classes": present}
        )
    return pairs, skipped


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


def score_reference_masks(
    dataset: datasets.Dataset, strategies: Mapping[str, str], target_column: str = "mask"
) -> dict[str, float]:
    """mIoU of fixed answers taken from the dataset itself, e.g. the text-blind strategies of the built-in task.

    Args:
        dataset: Rows with `class_name`, `target_column` and the columns that `strategies` names.
        strategies: Strategy name → column holding its answer mask for each row (e.g.
            `samptx_hf.data.TEXT_BLIND_STRATEGIES`, or `TEXT_ONLY_TEXT_BLIND_STRATEGIES` with
            `target_column="class_mask"`).
        target_column: The column of the targets: `mask` (the object under the point), or `class_mask` (every
            instance of the class, the text-only target).

    Returns:
        Strategy name → mIoU (mean over classes), scored as `evaluate_model` scores a model.

    Raises:
        ValueError: When the dataset lacks a column that `strategies` names.
    """
    missing = sorted({*strategies.values(), target_column} - set(dataset.column_names))
    if missing:
        raise ValueError(
            f"dataset lacks the columns {missing} named by the strategies {dict(strategies)} or target_column"
        )
    references, class_names = [to_binary_mask(mask) for mask in dataset[target_column]], dataset["class_name"]
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
    """The results of [`evaluate_model`] as markdown: the prompts and pairs, the overall metrics, the IoU per class
    (present pairs), and with a semantic pass the semantic IoU per class."""
    title = f"Evaluation on {results['dataset']}" if results.get("dataset") else "Evaluation"
    lines = [f"## {title} ({results['num_samples']} samples)", ""]
    if "prompt_mode" in results:
        lines += [
            f"Prompts: {PROMPT_DESCRIPTIONS.get(results['prompt_mode'], results['prompt_mode'])}; "
            f"{results['num_present_pairs']} present and {results['num_absent_pairs']} absent (image, class) pairs.",
            "",
        ]
    if "presence_counts" in results:
        counts = results["presence_counts"]
        lines += [
            f"Presence answers (positive = present): {counts['tp']} TP, {counts['fp']} FP, {counts['fn']} FN, "
            f"{counts['tn']} TN.",
            "",
        ]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in results["metrics"].items()]
    lines += ["", "| class | IoU | samples |", "|---|---|---|"]
    lines += [
        f"| {name} | {values['iou']:.4f} | {values['num_samples']} |" for name, values in results["per_class"].items()
    ]
    if "semantic_per_class" in results:
        lines += [
            "",
            f"Semantic IoU per class ({results['num_semantic_pairs']} (image, class) pairs, "
            f"{results['num_semantic_pairs_skipped']} present classes without a known union skipped):",
            "",
            "| class | semantic IoU |",
            "|---|---|",
        ]
        lines += [f"| {name} | {iou:.4f} |" for name, iou in results["semantic_per_class"].items()]
    return "\n".join(lines) + "\n"


def check_output_dir(output_dir: str | os.PathLike, name: str = "output_dir") -> None:
    """Refuse an `output_dir` that [`write_eval_results`] could not create or write into: a file, a path under
    one, or one under a folder that takes no new files (read-only, `/proc`). Checked before an evaluation starts, so
    that a long run is not lost at its end.

    Raises:
        ValueError: Naming `name`, the path, and what is in the way.
    """
    check_output_path(
        output_dir, name, f"a folder (created if missing) to write {EVAL_RESULTS_NAME} and {EVAL_TABLE_NAME} into"
    )


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
    "BatchPrediction",
    "check_output_dir",
    "check_prompt_options",
    "compute_results",
    "add_presence_results",
    "add_semantic_results",
    "dataset_vocabulary",
    "evaluate_model",
    "format_eval_results",
    "predict_batch_with_presence",
    "semantic_evaluation",
    "score_reference_masks",
    "score_batch",
    "text_embeddings_by_class",
    "write_eval_results",
]
