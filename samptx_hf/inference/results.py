"""What segmenting returns: plain numpy dataclasses, torch-free, shared by `segment`, `SamPtxPredictor` and the
onnxruntime `OnnxPredictor`."""

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
