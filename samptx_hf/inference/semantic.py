"""Semantic segmentation over a vocabulary: every class name alone as a prompt, one label per pixel.

Each class gets a text-only pass through [`segment`] (the class names share the image encoder's text-free blocks);
a class whose presence is below the threshold claims no pixel, and where several present classes claim a pixel the
one with the highest mask logit takes it.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..processing.class_prompts import check_vocabulary
from ..processing.processing_samptx import SamPtxProcessor
from .segment import SegmentationResult, segment

BACKGROUND_LABEL = 0  # the label map's value of a pixel no present class claims


@dataclass
class SemanticSegmentationResult:
    """What [`segment_semantic`] found in one image over a list of class names.

    Args:
        label_map (`np.ndarray` of dtype int32 and shape `(height, width)`):
            0 where no present class claims the pixel, `i + 1` where `classes[i]` does.
        classes (`list[str]`):
            The class names, in the order their labels count (`classes[i]` is label `i + 1`).
        presence (`np.ndarray` of dtype float32 and shape `(len(classes),)`, *optional*):
            The presence of each class; `None` for a model without a presence head (every class then counts as
            present and claims the pixels of its mask).
        present_classes (`list[str]`):
            The classes at or above the presence threshold, in the order of `classes`; for a model without a presence
            head, those whose mask is not empty.
        results (`list[SegmentationResult]`):
            Each class's own [`SegmentationResult`] (masks may overlap; an absent class's are empty), with `logits`.
    """

    label_map: np.ndarray
    classes: list[str]
    presence: np.ndarray | None
    present_classes: list[str]
    results: list[SegmentationResult]


def segment_semantic(
    model: Any,
    image: str | os.PathLike | Image.Image | np.ndarray,
    classes: Sequence[str],
    presence_threshold: float = 0.5,
    threshold: float = 0.0,
    processor: SamPtxProcessor | None = None,
) -> SemanticSegmentationResult:
    """Label every pixel of `image` with the class of `classes` it shows, or background.

    Meant for a model trained with a presence head (`SamPtxConfig.presence_head`): an absent class then claims
    nothing. A model without one answers every class with a mask, and the label map is the per-pixel contest of
    those masks.

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one, as for [`segment`].
        image: A path, a PIL image or a `(height, width, 3)` uint8 array.
        classes: The vocabulary, e.g. `["batfish", "seaweed"]`; `classes[i]` is label `i + 1`.
        presence_threshold: Presence probability below which a class is absent and claims no pixel.
        threshold: Mask logit above which a pixel is in a class's mask.
        processor: A [`SamPtxProcessor`]; by default [`SamPtxProcessor.from_model`] of the model.

    Returns:
        A [`SemanticSegmentationResult`].

    Raises:
        ValueError, TypeError, FileNotFoundError: As [`segment`], on the image, the class names or the thresholds;
            `ValueError` also when `classes` is a single string or names a class twice.

    Example:

    ```py
    >>> result = segment_semantic(model, "reef.jpg", ["batfish", "seaweed", "diver"])  # doctest: +SKIP
    >>> result.present_classes, result.label_map.shape  # doctest: +SKIP
    (['batfish', 'seaweed'], (480, 640))
    ```
    """
    class_names = check_vocabulary(classes)  # one label each
    results = segment(
        model,
        image,
        class_names,
        processor=processor,
        threshold=threshold,
        presence_threshold=presence_threshold,
        return_logits=True,
    )
    has_presence = results[0].presence is not None
    return SemanticSegmentationResult(
        label_map=label_map_of(results),
        classes=class_names,
        presence=np.array([result.presence for result in results], np.float32) if has_presence else None,
        present_classes=[
            result.class_name
            for result in results
            if (result.presence >= presence_threshold if has_presence else result.mask.any())
        ],
        results=results,
    )


def label_map_of(results: Sequence[SegmentationResult]) -> np.ndarray:
    """The `(height, width)` int32 label map of per-class results of one image: `i + 1` where `results[i].mask` holds
    the pixel with the highest `logits` among the masks that hold it, 0 where no mask does.

    Raises:
        ValueError: When a result has no `logits` (segment it with `return_logits=True`) or the masks' sizes differ.
    """
    if not results:
        raise ValueError("results is empty, expected one SegmentationResult per class")
    for result in results:
        if result.logits is None:
            raise ValueError(
                f"the result of {result.class_name!r} has no logits, expected segment(..., return_logits=True)"
            )
        if result.logits.shape != results[0].mask.shape or result.mask.shape != results[0].mask.shape:
            raise ValueError(
                f"the result of {result.class_name!r} is {result.mask.shape}, expected the size of the others, "
                f"{results[0].mask.shape}: the results of one image"
            )
    masks = np.stack([result.mask for result in results])  # (classes, height, width)
    logits = np.stack([result.logits for result in results])  # (classes, height, width)
    winner = np.where(masks, logits, -np.inf).argmax(axis=0)  # (height, width)
    return np.where(masks.any(axis=0), winner + 1, BACKGROUND_LABEL).astype(np.int32)
