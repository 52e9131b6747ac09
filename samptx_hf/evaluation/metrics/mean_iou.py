"""Mean IoU over (image, class) samples, as an `evaluate.Metric`."""

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import numpy as np

from samptx_hf.evaluation.metrics._masks import check_batch_lengths, check_same_shape, to_binary_mask, to_numpy_2d

_DESCRIPTION = """
Intersection-over-union of binary masks, for text-prompted segmentation where every sample is one
(image, class name) pair. Per class, intersections and unions are summed over that class's samples before
dividing (so large objects weigh more); `mean_iou` is the mean of the per-class IoUs over the classes seen.
`mean_sample_iou` is the plain mean of the per-sample IoUs. A union of zero pixels (prediction and reference
both empty) counts as a perfect IoU of 1.0, per sample and per class.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of (height, width) arrays or tensors, or one (batch, height, width) array):
        Predicted binary masks: bool, or numbers 0 and 1. Samples may differ in size.
    references (same as `predictions`):
        Reference binary masks, each with the shape of its prediction.
    class_names (`list[str]`):
        The class name (text prompt) of each sample.
    (`add` takes one `prediction`, `reference` and `class_name`.)

Returns:
    per_class_iou (`dict[str, float]`): class name -> IoU of that class's summed intersection and union.
    mean_iou (`float`): mean of `per_class_iou` over the classes seen.
    mean_sample_iou (`float`): mean of `per_sample_iou`.
    per_sample_iou (`list[float]`): IoU of each sample, in the order added.
    num_samples (`int`): number of samples.

Raises:
    ValueError: if a prediction and its reference differ in shape, a mask is not binary or not 2-D, the inputs
        differ in length, or `compute` is called before any sample was added.

Example:
    >>> import numpy as np
    >>> from samptx_hf.evaluation.metrics import load_metric
    >>> metric = load_metric("mean_iou")
    >>> prediction = np.array([[1, 1], [0, 0]])
    >>> reference = np.array([[1, 0], [1, 0]])
    >>> metric.compute(predictions=[prediction], references=[reference], class_names=["circle"])["mean_iou"]
    0.3333333333333333
"""


class MeanIoU(evaluate.Metric):
    """Mean IoU over (image, class) samples; see `_DESCRIPTION` and `_KWARGS_DESCRIPTION`.

    evaluate keeps whatever `add_batch` stores in an Arrow cache until `compute`. Instead of the masks, each
    sample is reduced on arrival to one row (`class_name`, `intersection`, `union` in pixels), so memory and
    disk grow with the number of samples, not pixels, and distributed evaluation (`num_process > 1`) still
    works: only these rows travel. `self.features` therefore describes the stored rows, not the inputs.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "class_name": datasets.Value("string"),
                    "intersection": datasets.Value("int64"),  # pixels
                    "union": datasets.Value("int64"),  # pixels
                }
            ),
        )

    def add_batch(
        self,
        *,
        predictions: Sequence[Any] | None = None,
        references: Sequence[Any] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        """Add a batch of (prediction, reference, class name) samples."""
        if isinstance(class_names, str):
            raise ValueError(f"class_names is the str {class_names!r}, expected a list of one class name per sample")
        num_samples = check_batch_lengths(predictions=predictions, references=references, class_names=class_names)
        intersections, unions = [], []
        for index in range(num_samples):
            if not isinstance(class_names[index], str):
                raise ValueError(f"class_names[{index}] is {class_names[index]!r}, expected a str")
            prediction = to_numpy_2d(predictions[index], f"predictions[{index}]")
            reference = to_numpy_2d(references[index], f"references[{index}]")
            check_same_shape(prediction, reference, index)
            prediction = to_binary_mask(prediction, f"predictions[{index}]")
            reference = to_binary_mask(reference, f"references[{index}]")
            intersections.append(int(np.count_nonzero(prediction & reference)))
            unions.append(int(np.count_nonzero(prediction | reference)))
        super().add_batch(class_name=[str(name) for name in class_names], intersection=intersections, union=unions)

    def add(self, *, prediction: Any = None, reference: Any = None, class_name: str | None = None) -> None:
        """Add one (prediction, reference, class name) sample."""
        self.add_batch(predictions=[prediction], references=[reference], class_names=[class_name])

    def compute(
        self,
        *,
        predictions: Sequence[Any] | None = None,
        references: Sequence[Any] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> dict[str, Any] | None:
        """Add the given samples, if any, and compute the metric over every sample added so far.

        Returns `None` on processes other than `process_id=0` in distributed evaluation.
        """
        if not (predictions is None and references is None and class_names is None):
            self.add_batch(predictions=predictions, references=references, class_names=class_names)
        if self.writer is None and self.num_process == 1:
            raise ValueError("no samples to compute MeanIoU on: call add, add_batch or compute with inputs first")
        return super().compute()

    def _compute(self, class_name: list[str], intersection: list[int], union: list[int]) -> dict[str, Any]:
        if not class_name:  # `add_batch` with empty lists opens the cache without adding a sample
            raise ValueError("no samples to compute MeanIoU on: call add, add_batch or compute with inputs first")
        intersection = np.asarray(intersection, dtype=np.int64)  # (num_samples,)
        union = np.asarray(union, dtype=np.int64)  # (num_samples,)
        per_sample_iou = _iou(intersection, union)
        names, class_index = np.unique(np.asarray(class_name, dtype=str), return_inverse=True)  # sorted names
        class_intersection = np.zeros(len(names), dtype=np.int64)
        class_union = np.zeros(len(names), dtype=np.int64)
        np.add.at(class_intersection, class_index, intersection)
        np.add.at(class_union, class_index, union)
        per_class_iou = dict(zip(names.tolist(), _iou(class_intersection, class_union).tolist(), strict=True))
        return {
            "per_class_iou": per_class_iou,
            "mean_iou": float(np.mean(list(per_class_iou.values()))),
            "mean_sample_iou": float(per_sample_iou.mean()),
            "per_sample_iou": per_sample_iou.tolist(),
            "num_samples": len(per_sample_iou),
        }


def _iou(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Elementwise intersection / union, with 1.0 where the union is empty (both masks empty)."""
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


def mask_iou(prediction: np.ndarray, reference: np.ndarray) -> float:
    """IoU of two boolean masks of one shape, with `MeanIoU`'s convention: 1.0 when both are empty."""
    intersection = np.count_nonzero(prediction & reference)
    return float(_iou(np.asarray(intersection), np.asarray(np.count_nonzero(prediction | reference))))
