"""Tiny on-disk fixtures in the real layouts of the datasets, written into pytest's tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import box_mask, write_image, write_mask


@pytest.fixture
def cod10k_root(tmp_path: Path) -> Path:
    """COD10K-v3 layout: Train/Image + Train/GT_Object, Test/Image + Test/GT_Object."""
    root = tmp_path / "COD10K-v3"
    train = [
        "COD10K-CAM-1-Aquatic-1-BatFish-1",
        "COD10K-CAM-1-Aquatic-13-Pipefish-2",
        "COD10K-CAM-2-Terrestrial-23-Cat-3",
        "COD10K-CAM-3-Flying-53-Bird-4",
        "COD10K-CAM-4-Amphibian-6-Frog-5",
        "COD10K-NonCAM-5-Background-3-Sky-4000",
    ]
    for index, stem in enumerate(train):
        write_image(root / "Train" / "Image" / f"{stem}.jpg", seed=index)
        empty = "NonCAM" in stem
        write_mask(root / "Train" / "GT_Object" / f"{stem}.png", np.zeros((24, 32), bool) if empty else box_mask())
    write_image(root / "Test" / "Image" / "COD10K-CAM-1-Aquatic-3-Crab-10.jpg")
    write_mask(root / "Test" / "GT_Object" / "COD10K-CAM-1-Aquatic-3-Crab-10.png", box_mask())
    return root
