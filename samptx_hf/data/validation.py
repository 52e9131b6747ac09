"""One pass over a dataset that drops the samples training cannot use, so nothing fails mid-epoch."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import datasets
import numpy as np
from PIL import Image

from .conversion import (
    MASK_FOREGROUND_THRESHOLD,
    distinct_mask_values,
    is_binary_mask,
    mask_values,
    to_binary_mask,
)

# Reasons a sample is dropped, in the order they are checked and reported.
DROP_REASONS = ("unreadable image", "missing mask", "unreadable mask", "size mismatch", "empty mask")
# How many dropped samples or non-binary masks a warning lists one by one; its attributes hold them all.
_LISTED = 10


class DroppedSamplesWarning(UserWarning):
    """Samples were dropped by [`drop_invalid_samples`].

    Attributes:
        counts: Each reason of `DROP_REASONS` that occurred -> its number of samples.
        num_samples: The number of samples checked.
        samples: `(sample, why)` for every dropped sample, e.g. `("/data/train/images/0000.jpg", "no mask named
            0000.png (looked for /data/train/masks/0000.png)")`; `sample` is the image file, else the `image_id`,
            else `"row <i>"`.
    """

    def __init__(
        self,
        message: str,
        counts: dict[str, int],
        num_samples: int,
        samples: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.counts = counts
        self.num_samples = num_samples
        self.samples = samples or []


class NonBinaryMaskWarning(UserWarning):
    """Masks with more than one non-zero value (saved as JPEG, soft or anti-aliased) were read by the mask rule,
    foreground = value >= 128, by [`drop_invalid_samples`]; `masks` lists them (file paths, else sample names)."""

    def __init__(self, message: str, masks: list[str], num_masks: int) -> None:
        super().__init__(message)
        self.masks = masks
        self.num_masks = num_masks


def _open(value: Any) -> Image.Image:
    """Fully decodes an undecoded `datasets.Image` value (`{"bytes", "path"}`) or a path."""
    source = _path_of(value)
    if isinstance(value, dict) and value.get("bytes") is not None:
        source = io.BytesIO(value["bytes"])
    if source is None:
        raise ValueError("no image data")
    image = Image.open(source)
    image.load()
    return image


def _path_of(value: Any) -> str | None:
    """The file path of an undecoded `datasets.Image` value or a path, `None` for in-memory bytes."""
    if isinstance(value, dict):
        return value.get("path") if value.get("bytes") is None else None
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else None


def _cache_key(value: Any) -> str | None:
    path = _path_of(value)
    return os.path.abspath(path) if path else None


def _listing(lines: list[tuple[str, str]], paths: list[str]) -> str:
    """`lines` as indented `name: text` rows, paths shown relative to the folder they share (named first)."""
    base = None
    if paths:
        try:
            base = os.path.commonpath(paths)
        except ValueError:  # absolute and relative paths mixed
            base = None
        if base is not None and os.path.isfile(base):
            base = os.path.dirname(base)

    def short(text: str) -> str:
        return text.replace(base + os.sep, "") if base else text

    rows = [f"  {short(name)}: {short(text)}" for name, text in lines[:_LISTED]]
    if len(lines) > _LISTED:
        rows.append(f"  ... and {len(lines) - _LISTED} more")
    return (f" in {base}:\n" if base else ":\n") + "\n".join(rows)


def _check_mask(value: Any, image_size: tuple[int, int], allow_empty_masks: bool) -> tuple[str | None, str | None]:
    """`(reason, why)` when the mask makes its sample unusable, `(None, note)` for a usable mask that is not binary,
    `(None, None)` for a usable binary mask. `image_size` is `(width, height)`."""
    path = _path_of(value)
    name = f"mask {path}" if path else "the mask"
    if path is not None and not os.path.isfile(path):
        return "missing mask", f"no mask named {os.path.basename(path)} (looked for {path})"
    try:
        mask = _open(value)
    except Exception:
        return "unreadable mask", f"{name} cannot be decoded"
    if mask.size != image_size:
        width, height = image_size
        return "size mismatch", f"{name} is {mask.width}x{mask.height} pixels, the image {width}x{height}"
    values = mask_values(mask)  # (height, width) uint8
    foreground = to_binary_mask(values)
    if is_binary_mask(values):
        if not allow_empty_masks and not foreground.any():
            return "empty mask", f"{name} has no foreground pixel"
        return None, None
    distinct = distinct_mask_values(values)
    if not allow_empty_masks and not foreground.any():
        threshold = MASK_FOREGROUND_THRESHOLD
        return "empty mask", f"{name} has no pixel >= {threshold} (values {distinct[0]} to {distinct[-1]})"
    non_zero, kept = np.mean(values > 0), foreground.mean()
    return (
        None,
        f"{len(distinct)} values; {non_zero:.1%} of pixels are non-zero, {kept:.1%} >= {MASK_FOREGROUND_THRESHOLD}",
    )


def drop_invalid_samples(
    dataset: datasets.Dataset,
    image_column: str = "image",
    mask_column: str = "mask",
    allow_empty_masks: bool = False,
) -> datasets.Dataset:
    """Drops samples whose image cannot be decoded, whose mask is missing or cannot be decoded, differs in size from
    its image, or is empty, and says which and why; reports masks that are not binary.

    Every image and mask is decoded once (an image shared by several `(image, class)` samples is decoded once).
    Masks are read by the mask rule of [`to_binary_mask`]: a mask with at most one non-zero value (0/1, 0/255) is
    foreground where non-zero, any other (saved as JPEG, soft) where its 8-bit value is >= 128.

    Emits at most two warnings:

    - one [`DroppedSamplesWarning`] that counts the dropped samples per reason and lists them, each with why
      (`images/0000.jpg: no mask named 0000.png in masks`);
    - one [`NonBinaryMaskWarning`] that lists the masks with more than one non-zero value, with the share of their
      pixels that are non-zero and that are >= 128.

    Args:
        dataset (`datasets.Dataset`):
            A dataset whose `image_column` and `mask_column` are `datasets.Image` features.
        image_column (`str`, defaults to `"image"`):
            The image column.
        mask_column (`str`, defaults to `"mask"`):
            The mask column, read by the mask rule.
        allow_empty_masks (`bool`, defaults to `False`):
            Keep samples whose mask has no foreground (e.g. COD10K's non-camouflaged images).

    Returns:
        `datasets.Dataset`: the usable samples, in their original order.

    Raises:
        ValueError: if a column is missing or not a `datasets.Image`, or if no sample is usable (the message
            says how many were dropped for each reason, and which).
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

    id_columns = ["image_id"] if "image_id" in dataset.column_names else []
    raw = dataset.select_columns([image_column, mask_column, *id_columns])
    raw = raw.cast_column(image_column, datasets.Image(decode=False))
    raw = raw.cast_column(mask_column, datasets.Image(decode=False))

    image_sizes: dict[str, tuple[int, int] | None] = {}
    counts = dict.fromkeys(DROP_REASONS, 0)
    dropped: list[tuple[str, str]] = []
    non_binary: list[tuple[str, str]] = []
    shown_paths: list[str] = []
    keep: list[int] = []
    for index, row in enumerate(raw):
        image_path, mask_path = _path_of(row[image_column]), _path_of(row[mask_column])
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
            reason, text = "unreadable image", "the image cannot be decoded"
        else:
            reason, text = _check_mask(row[mask_column], image_size, allow_empty_masks)
        sample = image_path or (row["image_id"] if id_columns else None) or f"row {index}"
        if reason is not None:
            counts[reason] += 1
            dropped.append((sample, text))
            shown_paths.extend(path for path in (image_path, mask_path) if path)
            continue
        if text is not None:
            non_binary.append((mask_path or sample, text))
        keep.append(index)

    report = ", ".join(f"{count} {reason}" for reason, count in counts.items() if count)
    if not keep:
        raise ValueError(
            f"no usable sample among the {len(dataset)} samples of the dataset: {report}"
            + _listing(dropped, shown_paths)
        )
    if non_binary:
        warnings.warn(
            NonBinaryMaskWarning(
                f"{len(non_binary)} of {len(keep)} masks are read as foreground = value >= "
                f"{MASK_FOREGROUND_THRESHOLD}, not non-zero: they have more than one non-zero value (saved as JPEG, "
                "soft or anti-aliased)"
                + _listing(non_binary, [name for name, _ in non_binary if os.path.isfile(name)])
                + "\nSave masks as PNG with only 0 and 255 (or 0 and 1) to have them read as drawn.",
                masks=[name for name, _ in non_binary],
                num_masks=len(keep),
            ),
            stacklevel=2,
        )
    if dropped:
        warnings.warn(
            DroppedSamplesWarning(
                f"dropped {len(dropped)} of {len(dataset)} samples that cannot be used: {report}"
                + _listing(dropped, shown_paths),
                counts={reason: count for reason, count in counts.items() if count},
                num_samples=len(dataset),
                samples=dropped,
            ),
            stacklevel=2,
        )
        return dataset.select(keep)
    return dataset
