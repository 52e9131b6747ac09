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


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of a PIL image of any mode.

    PIL's own `convert("RGB")` clips 16-bit, 32-bit and float grayscale to 255, which turns a 16-bit PNG white;
    here such images are scaled to 0..255 instead: `I;16*` by 65535, `I` by 65535 when a value exceeds 255, `F` by
    1 when every value is in [0, 1] (else clipped to 0..255).
    """
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image.convert("RGB")
    values = np.asarray(image, dtype=np.float64)  # (height, width)
    if image.mode.startswith("I;16") or (image.mode == "I" and values.size and values.max() > 255):
        values = values * (255 / 65535)
    elif image.mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
        values = values * 255
    return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), mode="L").convert("RGB")


def to_binary_mask(mask: Any) -> np.ndarray:
    """Converts a mask (PIL image, array or tensor) to a boolean `(height, width)` array: foreground =
    non-zero.

    Raises:
        ValueError: if the mask is not 2-D (or 3-D with a single/constant channel axis last).
    """
    if isinstance(mask, Image.Image):
        mask = mask.convert("L")
    array = np.asarray(mask)
    if array.ndim == 3:
        array = array.max(axis=-1)
    if array.ndim != 2:
        raise ValueError(f"mask has shape {array.shape}, expected (height, width)")
    return array > 0
