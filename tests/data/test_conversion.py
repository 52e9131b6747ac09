"""The mask rule: how every loader, the collator and evaluation turn a mask into foreground pixels."""

import numpy as np
import pytest
import torch
from PIL import Image

from samptx_hf.data import to_binary_mask

BOX = np.zeros((6, 8), dtype=bool)
BOX[1:4, 2:6] = True


@pytest.mark.parametrize(
    "mask",
    [BOX, BOX.astype(np.uint8), BOX.astype(np.uint8) * 255, BOX.astype(np.int64) * 7, BOX.astype(np.float32),
     Image.fromarray(BOX.astype(np.uint8) * 255), Image.fromarray(BOX), torch.from_numpy(BOX.astype(np.uint8))],
    ids=["bool", "0/1", "0/255", "0/7", "float 0/1", "L image 0/255", "mode 1 image", "tensor"],
)  # fmt: skip
def test_a_mask_with_one_non_zero_value_is_foreground_where_non_zero(mask):
    assert np.array_equal(to_binary_mask(mask), BOX)


@pytest.mark.parametrize(
    "mask",
    [np.where(BOX, 255, 1), np.where(BOX, 140, 127), Image.fromarray(np.where(BOX, 200, 20).astype(np.uint8)),
     np.where(BOX, 0.8, 0.3)],
    ids=["1/255", "127/140", "L image 20/200", "float probabilities"],
)  # fmt: skip
def test_any_other_mask_is_foreground_from_half_its_range(mask):
    assert np.array_equal(to_binary_mask(mask), BOX)


def test_an_rgb_mask_is_read_as_grayscale():
    rgb = np.zeros((6, 8, 3), dtype=np.uint8)
    rgb[BOX] = (255, 0, 0)  # a red object: grayscale 76, the only non-zero value
    assert np.array_equal(to_binary_mask(Image.fromarray(rgb)), BOX)


def test_values_outside_8_bit_are_refused_with_their_range():
    with pytest.raises(ValueError, match=r"mask holds values from 3 to 1000 \(dtype int64\), expected a binary mask"):
        to_binary_mask(np.where(BOX, 1000, 3))


def test_a_mask_that_is_not_2d_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"mask has shape \(2, 6, 8, 1\), expected \(height, width\)"):
        to_binary_mask(np.zeros((2, 6, 8, 1)))
