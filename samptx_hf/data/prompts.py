"""Point prompts drawn from a ground-truth mask: random positives for training, an interior point for eval.

Points are `(x, y)` in pixel coordinates of the mask (= the original image): `x` is the column, `y` the row.
They are integer-valued, as SAM's prompt encoder adds 0.5 itself to reach the pixel centre.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .conversion import to_binary_mask


def _check_not_empty(mask: np.ndarray) -> None:
    if not mask.any():
        raise ValueError(f"mask of shape {mask.shape} is empty: a point prompt needs at least one foreground pixel")


def sample_positive_points(
    mask: np.ndarray, num_points: int = 1, generator: torch.Generator | None = None
) -> np.ndarray:
    """Samples points uniformly (with replacement) among the foreground pixels of `mask`.

    Args:
        mask (`np.ndarray` or PIL image):
            `(height, width)` mask, read by the mask rule of `to_binary_mask`.
        num_points (`int`, defaults to 1):
            How many points to draw.
        generator (`torch.Generator`, *optional*):
            Source of randomness; pass a seeded one for reproducible points.

    Returns:
        `np.ndarray` of shape `(num_points, 2)`, dtype float32: `(x, y)` pixel coordinates inside the mask.

    Raises:
        ValueError: if the mask is empty or `num_points < 1`.
    """
    if num_points < 1:
        raise ValueError(f"num_points={num_points}, expected at least 1")
    mask = to_binary_mask(mask)
    _check_not_empty(mask)
    rows, cols = np.nonzero(mask)
    picks = torch.randint(len(rows), (num_points,), generator=generator).numpy()
    return np.stack([cols[picks], rows[picks]], axis=-1).astype(np.float32)


def interior_point(mask: np.ndarray) -> np.ndarray:
    """The foreground pixel farthest from the mask boundary (image borders count as boundary).

    Deterministic: ties go to the first pixel in row-major order. For a mask made of several parts, the point
    is in the part with the thickest interior.

    Args:
        mask (`np.ndarray` or PIL image):
            `(height, width)` mask, read by the mask rule of `to_binary_mask`.

    Returns:
        `np.ndarray` of shape `(2,)`, dtype float32: the `(x, y)` pixel coordinates.

    Raises:
        ValueError: if the mask is empty.
    """
    mask = to_binary_mask(mask)
    _check_not_empty(mask)
    # Padding with background makes pixels on the image border count as boundary pixels too.
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return np.array([col, row], dtype=np.float32)
