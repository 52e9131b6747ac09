"""One pass over a dataset that drops the samples training cannot use, so nothing fails mid-epoch."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import datasets
import numpy as np
from PIL import Image

# Reasons a sample is dropped, in the order they are checked and reported.
DROP_REASONS = ("unreadable image", "unreadable mask", "size mismatch", "empty mask")


class DroppedSamplesWarning(UserWarning):
    """Samples were dropped by [`drop_invalid_samples`]; `counts` maps each reason to its number of samples."""

    def __init__(self, message: str, counts: dict[str, int], num_samples: int) -> None:
        super().__init__(message)
        self.counts = counts
        self.num_samples = num_samples


def _open(value: Any) -> Image.Image:
    """Fully decodes an undecoded `datasets.Image` value (`{"bytes", "path"}`) or a path."""
    if isinstance(value, dict):
        source = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value.get("path")
    else:
        source = value
    if source is None:
        raise ValueError("no image data")
    image = Image.open(source)
    image.load()
    return image


def _cache_key(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("bytes") is None and value.get("path"):
        return os.path.abspath(value["path"])
    if isinstance(value, str):
        return os.path.abspath(value)
    return None


def drop_invalid_samples(
    dataset: datasets.Dataset,
    image_column: str = "image",
    mask_column: str = "mask",
    allow_empty_masks: bool = False,
) -> datasets.Dataset:
    """Drops samples whose image or mask cannot be decoded, whose mask differs in size from its image, or
    whose mask is empty, and emits ONE [`DroppedSamplesWarning`] that counts the dropped samples per reason.

    Every image and mask is decoded once (an image shared by several `(image, class)` samples is decoded
    once).

    Args:
        dataset (`datasets.Dataset`):
            A dataset whose `image_column` and `mask_column` are `datasets.Image` features.
        image_column (`str`, defaults to `"image"`):
            The image column.
        mask_column (`str`, defaults to `"mask"`):
            The mask column; non-zero pixels are foreground.
        allow_empty_masks (`bool`, defaults to `False`):
            Keep samples whose mask has no foreground (e.g. COD10K's non-camouflaged images).

    Returns:
        `datasets.Dataset`: the usable samples, in their original order.

    Raises:
        ValueError: if a column is missing or not a `datasets.Image`, or if no sample is usable (the message
            says how many were dropped for each reason).
    """
    for column in (image_column, mask_column):
        feature = dataset.features.get(column)
        if not isinstance(feature, datasets.Image):
            raise ValueError(
                f"column {column!r} is {feature!r}, expected a datasets.Image feature "
                f"(dataset columns: {dataset.column_names})"
            )
    if len(dataset) == 0:
        raise ValueError("the dataset has no samples")

    raw = dataset.select_columns([image_column, mask_column])
    raw = raw.cast_column(image_column, datasets.Image(decode=False))
    raw = raw.cast_column(mask_column, datasets.Image(decode=False))

    image_sizes: dict[str, tuple[int, int] | None] = {}
    counts = dict.fromkeys(DROP_REASONS, 0)
    keep: list[int] = []
    for index, row in enumerate(raw):
        key = _cache_key(row[image_column])
        if key is not None and key in image_sizes:
            image_size = image_sizes[key]
        else:
            try:
                image_size = _open(row[image_column]).size
            except Exception:
                image_size = None
            if key is not None:
                image_sizes[key] = image_size
        if image_size is None:
            counts["unreadable image"] += 1
            continue
        try:
            mask = _open(row[mask_column])
        except Exception:
            counts["unreadable mask"] += 1
            continue
        if mask.size != image_size:
            counts["size mismatch"] += 1
            continue
        if not allow_empty_masks and not np.asarray(mask.convert("L")).any():
            counts["empty mask"] += 1
            continue
        keep.append(index)

    dropped = len(dataset) - len(keep)
    report = ", ".join(f"{count} {reason}" for reason, count in counts.items() if count)
    if not keep:
        raise ValueError(f"no usable sample among the {len(dataset)} samples of the dataset: {report}")
    if dropped:
        warnings.warn(
            DroppedSamplesWarning(
                f"dropped {dropped} of {len(dataset)} samples that cannot be used: {report}",
                counts={reason: count for reason, count in counts.items() if count},
                num_samples=len(dataset),
            ),
            stacklevel=2,
        )
        return dataset.select(keep)
    return dataset
