import numpy as np
import pytest
import torch
from scipy import ndimage

from samptx_hf.data import interior_point, sample_positive_points


def _ring_and_blob() -> np.ndarray:
    mask = np.zeros((40, 60), dtype=bool)
    mask[5:35, 30:58] = True  # a thick block
    mask[2:4, 2:20] = True  # a thin bar
    return mask


def test_sampled_points_are_inside_the_mask_and_reproducible():
    mask = _ring_and_blob()
    points = sample_positive_points(mask, 500, torch.Generator().manual_seed(0))

    assert points.shape == (500, 2) and points.dtype == np.float32
    xs, ys = points[:, 0].astype(int), points[:, 1].astype(int)
    assert mask[ys, xs].all()  # (x, y) = (column, row)
    again = sample_positive_points(mask, 500, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(points, again)
    other = sample_positive_points(mask, 500, torch.Generator().manual_seed(1))
    assert not np.array_equal(points, other)


def test_sampling_covers_the_whole_mask():
    mask = _ring_and_blob()
    points = sample_positive_points(mask, 4000, torch.Generator().manual_seed(0))
    on_bar = (points[:, 1] < 5).mean()
    assert on_bar == pytest.approx(mask[:5].sum() / mask.sum(), abs=0.02)


def test_interior_point_is_deterministic_and_far_from_the_boundary():
    mask = _ring_and_blob()
    x, y = interior_point(mask).astype(int)

    assert mask[y, x]
    np.testing.assert_array_equal(interior_point(mask), interior_point(mask))
    # not on the boundary: all 8 neighbours are foreground, and it is at the centre of the thick block
    assert mask[y - 1 : y + 2, x - 1 : x + 2].all()
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    assert depth[y, x] == depth.max() >= 14


def test_interior_point_treats_image_border_as_boundary():
    mask = np.zeros((20, 20), dtype=bool)
    mask[:, :12] = True  # touches the top, bottom and left borders
    x, y = interior_point(mask)
    # without the border as boundary, the left column (x = 0) would look deepest
    assert 5 <= x <= 6 and 5 <= y <= 14


def test_empty_mask_raises():
    with pytest.raises(ValueError, match="empty"):
        interior_point(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="empty"):
        sample_positive_points(np.zeros((4, 4)), 1)
