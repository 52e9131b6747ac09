"""What segmenting returns: plain numpy dataclasses, torch-free, shared by `segment`, `SamPtxPredictor` and the
onnxruntime `OnnxPredictor`."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class SegmentationResult:
    """What [`segment`] found for one class name.

    Args:
        mask (`np.ndarray` of dtype bool and shape `(height, width)`):
            The mask at the original image size: the best of `masks` by predicted IoU; empty (all False) when
            `presence` is below the call's `presence_threshold`.
        score (`float`):
            SAM's predicted IoU of `mask`.
        class_name (`str`):
            The class name that was segmented.
        masks (`np.ndarray` of dtype bool and shape `(num_masks, height, width)`):
            Every predicted mask: one, or SAM's three with `multimask_output=True`.
        scores (`np.ndarray` of shape `(num_masks,)`):
            Predicted IoU of each of `masks`.
        presence (`float`, *optional*):
            The probability that the image holds the class (with points: that the pointed object is one), from the
            model's presence head; `None` for a model without one (`SamPtxConfig.presence_head`).
        logits (`np.ndarray` of dtype float32 and shape `(height, width)`, *optional*):
            The mask logits of `mask` at the original image size, the decoder's as they are (not emptied for an
            absent class); kept only with `segment(..., return_logits=True)`.
    """

    mask: np.ndarray
    score: float
    class_name: str
    masks: np.ndarray
    scores: np.ndarray
    presence: float | None = None
    logits: np.ndarray | None = None


@dataclass
class PredictorResult(SegmentationResult):
    """A [`SegmentationResult`], and the low-resolution logits to feed back as the next `mask_input`.

    Args:
        low_res_logits (`np.ndarray` of shape `(1, size, size)`): The chosen mask's logits at the decoder's
            resolution (256 for the released models), SAM's mask prompt for the next click.
    """

    low_res_logits: np.ndarray | None = None


@dataclass
class PredictorCacheInfo:
    """What a [`SamPtxPredictor`] or an `OnnxPredictor` holds: the image's trunk, the classes' image embeddings,
    and the counters."""

    trunk_bytes: int
    class_embeddings_bytes: int
    classes: int
    hits: int
    misses: int
    max_bytes: int


def results_from_logits(
    logits: Sequence[np.ndarray],
    scores: np.ndarray,
    class_names: Sequence[str],
    threshold: float = 0.0,
    presences: Sequence[float] | None = None,
    presence_threshold: float = 0.5,
    keep_logits: bool = False,
    low_res_logits: np.ndarray | None = None,
) -> list[SegmentationResult]:
    """One result per row: the masks above `threshold`, empty where the presence is below `presence_threshold`, the
    best by predicted IoU as `mask`. Torch-free, for every front-end (the PyTorch engine and the onnxruntime
    predictor).

    Args:
        logits: Per row, `(num_masks, height, width)` mask logits at the original image size.
        scores (`np.ndarray` of shape `(rows, num_masks)`): The predicted IoUs.
        class_names: The class name of each row.
        threshold: Logit above which a pixel is in the mask.
        presences: Per row, the presence probability; `None` for a model without a presence head.
        presence_threshold: Presence probability below which a row's class is absent.
        keep_logits: Keep the best mask's logits in each result's `logits`.
        low_res_logits (`np.ndarray` of shape `(rows, num_masks, size, size)`, *optional*): The decoder's logits;
            given, the results are [`PredictorResult`]s with the best mask's in `low_res_logits`.
    """
    if presences is None:
        presences = [None] * len(scores)
    results = []
    for row, (sample_logits, sample_scores, presence, class_name) in enumerate(
        zip(logits, scores, presences, class_names, strict=True)
    ):
        sample_masks = sample_logits > threshold
        if presence is not None and presence < presence_threshold:
            sample_masks[:] = False
        best = int(np.argmax(sample_scores))
        fields = {
            "mask": sample_masks[best],
            "score": float(sample_scores[best]),
            "class_name": class_name,
            "masks": sample_masks,
            "scores": sample_scores,
            "presence": presence,
            "logits": sample_logits[best].copy() if keep_logits else None,
        }
        if low_res_logits is None:
            results.append(SegmentationResult(**fields))
        else:
            results.append(PredictorResult(**fields, low_res_logits=low_res_logits[row, [best]]))
    return results
