"""The interactive evaluation protocol of SAM and RITM: simulated clicks, mIoU after each, clicks to reach an IoU.

For each (image, class) row the first click is the interior point of the target farthest from its boundary; each
next click is the interior point farthest from the boundary of the largest error region of the current mask, a
positive click in a missed region (false negative) and a negative one in a wrong region (false positive); the
previous low-resolution logits go in as SAM's mask prompt. The image is encoded once per image and class
([`SamPtxPredictor`]), so N clicks cost the decoder N times.

Reported: `miou@k`, the mean over rows of the IoU after k clicks, for k = 1..N; `noc@85` and `noc@90`, the mean
number of clicks to reach an IoU of 0.85 / 0.90 (N for a row that never does); `nof@85`, `nof@90`, how many rows
never do.
"""

from collections.abc import Callable
from typing import Any

import datasets
import numpy as np
from scipy import ndimage

from ..data import interior_point
from ..data.conversion import to_binary_mask
from ..inference.predictor import SamPtxPredictor
from .metrics import mask_iou

NOC_THRESHOLDS = (0.85, 0.90)


def next_click(prediction: np.ndarray, target: np.ndarray) -> tuple[tuple[float, float], int] | None:
    """The protocol's next click on a `(height, width)` boolean prediction of a boolean target.

    Returns:
        `((x, y), label)`: label 1 inside the largest missed region, 0 inside the largest wrong one (ties: the
        missed one); None when the prediction is the target.

    Raises:
        ValueError: On masks of different shapes, or an empty target.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"prediction has shape {prediction.shape} but the target {target.shape}")
    if not target.any():
        raise ValueError("the target mask is empty: there is no object to click on")
    best: tuple[int, np.ndarray, int] | None = None  # (area, region, label)
    for errors, label in ((target & ~prediction, 1), (prediction & ~target, 0)):
        regions, count = ndimage.label(errors)
        if count == 0:
            continue
        areas = np.bincount(regions.ravel())[1:]
        largest = int(np.argmax(areas))
        if best is None or areas[largest] > best[0]:
            best = (int(areas[largest]), regions == largest + 1, label)
    if best is None:
        return None
    x, y = interior_point(best[1])
    return (float(x), float(y)), best[2]


def evaluate_clicks(
    model: Any,
    dataset: datasets.Dataset,
    num_clicks: int,
    processor: Any = None,
    threshold: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Simulate `num_clicks` clicks on every row of `dataset` and score the masks after each (see the module).

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one.
        dataset: Rows with `image`, `mask` and `class_name`, as `samptx_hf.data` loads them.
        num_clicks: Clicks per row, at least 1.
        processor: A [`SamPtxProcessor`]; by default the model's.
        threshold: Logit above which a pixel is in the mask.
        progress: Called as `progress(done, total)` after each row.

    Returns:
        `{"miou@1": ..., ..., "miou@N": ..., "noc@85": ..., "noc@90": ..., "nof@85": ..., "nof@90": ...}`.

    Raises:
        ValueError: On `num_clicks` below 1, an empty dataset or one without the needed columns.
    """
    if isinstance(num_clicks, bool) or not isinstance(num_clicks, int) or num_clicks < 1:
        raise ValueError(f"num_clicks={num_clicks!r}, expected a whole number of clicks of at least 1")
    missing = {"image", "mask", "class_name"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset lacks the columns {sorted(missing)}, expected image, mask and class_name")
    if len(dataset) == 0:
        raise ValueError("dataset is empty, expected at least one row")
    predictor = SamPtxPredictor(model, processor)
    ious = np.zeros((len(dataset), num_clicks))  # (rows, clicks)
    for index in range(len(dataset)):
        row = dataset[index]
        ious[index] = _click_row(predictor, row["image"], to_binary_mask(row["mask"]), row["class_name"], num_clicks,
                                 threshold)  # fmt: skip
        if progress is not None:
            progress(index + 1, len(dataset))
    metrics = {f"miou@{k + 1}": float(ious[:, k].mean()) for k in range(num_clicks)}
    for noc_threshold in NOC_THRESHOLDS:
        reached = ious >= noc_threshold  # (rows, clicks)
        clicks_needed = np.where(reached.any(1), reached.argmax(1) + 1, num_clicks)
        name = round(noc_threshold * 100)
        metrics[f"noc@{name}"] = float(clicks_needed.mean())
        metrics[f"nof@{name}"] = int((~reached.any(1)).sum())
    return metrics


def _click_row(
    predictor: SamPtxPredictor, image: Any, target: np.ndarray, class_name: str, num_clicks: int, threshold: float
) -> np.ndarray:
    """The IoU after each of `num_clicks` clicks on one (image, class) row."""
    predictor.set_image(image)  # a no-op when the previous row had the same image
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    prediction = np.zeros_like(target)
    logits = None
    ious = np.zeros(num_clicks)
    for click in range(num_clicks):
        chosen = (tuple(float(v) for v in interior_point(target)), 1) if click == 0 else next_click(prediction, target)
        if chosen is None:  # perfect already: later clicks keep the mask
            ious[click:] = 1.0
            break
        points.append(chosen[0])
        labels.append(chosen[1])
        result = predictor.predict(
            class_name, points=points, point_labels=labels, mask_input=logits, threshold=threshold
        )
        prediction, logits = result.mask, result.low_res_logits
        ious[click] = mask_iou(prediction, target)
    return ious


__all__ = ["NOC_THRESHOLDS", "evaluate_clicks", "next_click"]
