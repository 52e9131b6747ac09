"""Checks and conversions shared by the mask metrics: one sample is one 2-D (height, width) map."""

from collections.abc import Sequence
from typing import Any

import numpy as np


def to_numpy_2d(value: Any, name: str) -> np.ndarray:
    """Return `value` as a 2-D numpy array without copying when possible.

    Args:
        value (`np.ndarray`, `torch.Tensor` or nested lists):
            One map of shape (height, width). Tensors may live on any device; they are moved to the CPU.
        name (`str`):
            How to call the value in error messages, e.g. `"predictions[3]"`.

    Raises:
        ValueError: if the value is not 2-D or has no pixel.
    """
    if hasattr(value, "detach"):  # a torch.Tensor; torch itself is not needed to read it
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} has shape {tuple(array.shape)}, expected a non-empty 2-D (height, width) map")
    return array


def to_binary_mask(array: np.ndarray, name: str) -> np.ndarray:
    """Return a boolean copy of a mask whose values are all 0 or 1.

    Args:
        array (`np.ndarray`):
            A bool array, or a numeric array holding only 0 and 1.
        name (`str`):
            How to call the array in error messages.

    Raises:
        ValueError: if the array holds a value other than 0 and 1 (e.g. an unthresholded probability).
    """
    if array.dtype == np.bool_:
        return array
    mask = array.astype(bool)
    if not np.array_equal(array, mask):
        bad_value = array[(array != 0) & (array != 1)].flat[0].item()
        raise ValueError(
            f"{name} holds the value {bad_value!r}, expected a binary mask (bool, or numbers 0 and 1); "
            "threshold probabilities first, e.g. `probabilities > 0.5`"
        )
    return mask


def check_same_shape(prediction: np.ndarray, reference: np.ndarray, index: int) -> None:
    """Raise a ValueError naming both shapes if sample `index`'s prediction and reference differ in shape."""
    if prediction.shape != reference.shape:
        raise ValueError(
            f"predictions[{index}] has shape {tuple(prediction.shape)} but references[{index}] has shape "
            f"{tuple(reference.shape)}; each prediction must have its reference's (height, width)"
        )


def check_batch_lengths(**columns: Sequence[Any]) -> int:
    """Return the common length of the per-sample input columns.

    Args:
        **columns:
            The batch inputs by name, e.g. `predictions=..., references=...`. A (batch, height, width) array
            counts as `batch` samples.

    Raises:
        ValueError: if a column is missing (None) or the columns differ in length.
    """
    missing = [name for name, column in columns.items() if column is None]
    if missing:
        raise ValueError(f"missing inputs {missing}: all of {list(columns)} are required")
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{length} {name}" for name, length in lengths.items())
        raise ValueError(f"got {described}: every input needs one entry per sample")
    return next(iter(lengths.values()))
