"""Conversions the loaders, the collator, inference and evaluation share: images to RGB, masks to booleans, the
common feature schema and mask encoding."""

from __future__ import annotations

import io
from typing import Any

import datasets
import numpy as np
from PIL import Image

# Columns every loader returns, in this order; loaders may add more after them.
SEGMENTATION_COLUMNS = ("image", "mask", "class_name", "image_id")


def segmentation_features(**extra: datasets.features.FeatureType) -> datasets.Features:
    """The `datasets.Features` every loader returns: `image`, `mask`, `class_name`, `image_id` (+ `extra`)."""
    return datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "class_name": datasets.Value("string"),
            "image_id": datasets.Value("string"),
            **extra,
        }
    )


def encode_mask_png(mask: np.ndarray) -> dict[str, Any]:
    """Encodes a boolean `(height, width)` mask as an in-memory 0/255 "L" PNG, in `datasets.Image` form."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


# The mask rule, shared by every loader, the collator and evaluation. A mask with at most one non-zero value (0/1,
# 0/255, booleans) is read as non-zero = foreground. Any other mask (saved as JPEG, soft, anti-aliased) is read as
# value >= half its range: 128 for 8-bit values, 0.5 for floats in [0, 1].
MASK_FOREGROUND_THRESHOLD = 128


def mask_values(mask: Any) -> np.ndarray:
    """The pixel values of a mask as a `(height, width)` array: a PIL image in 8-bit grayscale (mode "L"), an array
    or tensor as it is (a channel axis last is reduced by its maximum).

    Raises:
        ValueError: if the mask is not 2-D (or 3-D with the channels last).
    """
    if isinstance(mask, Image.Image):
        mask = mask.convert("L")
    array = np.asarray(mask)
    if array.ndim == 3:
        array = array.max(axis=-1)
    if array.ndim != 2:
        raise ValueError(f"mask has shape {array.shape}, expected (height, width)")
    return array


def distinct_mask_values(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a mask array (a bincount for 8-bit values, which is faster than a sort)."""
    if values.dtype == np.uint8:
        return np.flatnonzero(np.bincount(values.ravel(), minlength=256)).astype(np.uint8)
    return np.unique(values)


def is_binary_mask(values: np.ndarray) -> bool:
    """Whether a mask array holds at most one non-zero value (0/1, 0/255, booleans): read as non-zero = foreground."""
    if values.size == 0:
        return True
    high = values.max()
    only = high if high != 0 else values.min()  # the one non-zero value, if there is one
    return bool(np.all((values == 0) | (values == only)))  # 10x faster than listing the distinct values


def to_binary_mask(mask: Any) -> np.ndarray:
    """Converts a mask (PIL image, array or tensor) to a boolean `(height, width)` array by the mask rule.

    - A **binary** mask, with at most one non-zero value (0/1, 0/255, booleans), is foreground where non-zero.
    - Any other mask (saved as JPEG, soft, anti-aliased) is foreground where its value is at least half its range:
      `>= 128` for 8-bit values (images in any mode, read as 8-bit grayscale, and arrays in 0..255), `>= 0.5` for
      float arrays in [0, 1].

    Raises:
        ValueError: if the mask is not 2-D (or 3-D with the channels last), or is an array with more than one
            non-zero value outside 0..255 (and, for floats, outside [0, 1]).
    """
    values = mask_values(mask)
    if values.dtype == bool or is_binary_mask(values):
        return values != 0
    low, high = values.min(), values.max()
    if low >= 0 and high <= 1 and np.issubdtype(values.dtype, np.floating):
        return values >= 0.5
    if low >= 0 and high <= 255:
        return values >= MASK_FOREGROUND_THRESHOLD
    raise ValueError(
        f"mask holds values from {low} to {high} (dtype {values.dtype}), expected a binary mask (0 and one other "
        "value), 8-bit values 0..255 or floats in [0, 1]"
    )
