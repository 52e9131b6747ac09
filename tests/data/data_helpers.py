"""Helpers that write tiny images and masks for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, height: int = 24, width: int = 32, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def write_mask(path: Path, mask: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    return path


def box_mask(height: int = 24, width: int = 32, top: int = 4, left: int = 6, size: int = 10) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask
