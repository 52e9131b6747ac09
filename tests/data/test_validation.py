import warnings

import datasets
import numpy as np
import pytest
from data_helpers import box_mask, write_image, write_mask

from samptx_hf.data import drop_invalid_samples, load_image_folder


def _dataset(images, masks):
    features = datasets.Features(
        {"image": datasets.Image(), "mask": datasets.Image(), "class_name": datasets.Value("string")}
    )
    rows = {
        "image": [str(p) for p in images],
        "mask": [str(p) for p in masks],
        "class_name": ["x"] * len(images),
    }
    return datasets.Dataset.from_dict(rows, features=features)


def test_bad_samples_are_dropped_with_one_warning_that_counts_them(tmp_path):
    good = write_image(tmp_path / "good.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good_mask = write_mask(tmp_path / "good.png", box_mask())
    empty_mask = write_mask(tmp_path / "empty.png", np.zeros((24, 32), bool))
    small_mask = write_mask(tmp_path / "small.png", box_mask(12, 16, 2, 2, 4))
    dataset = _dataset(
        [good, corrupt, good, good, good, good],
        [good_mask, good_mask, empty_mask, small_mask, small_mask, tmp_path / "missing.png"],
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clean = drop_invalid_samples(dataset)

    assert len(caught) == 1
    message = str(caught[0].message)
    assert "dropped 5 of 6" in message
    for part in ("1 unreadable image", "1 unreadable mask", "2 size mismatch", "1 empty mask"):
        assert part in message
    assert len(clean) == 1 and clean[0]["mask"].size == clean[0]["image"].size


def test_clean_dataset_passes_silently(tmp_path):
    dataset = _dataset([write_image(tmp_path / "a.jpg")], [write_mask(tmp_path / "a.png", box_mask())])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(drop_invalid_samples(dataset)) == 1


def test_empty_masks_can_be_allowed(tmp_path):
    dataset = _dataset([write_image(tmp_path / "a.jpg")], [write_mask(tmp_path / "a.png", np.zeros((24, 32)))])
    assert len(drop_invalid_samples(dataset, allow_empty_masks=True)) == 1


def test_all_bad_raises_and_says_why(tmp_path):
    image = write_image(tmp_path / "a.jpg")
    dataset = _dataset([image, image], [write_mask(tmp_path / "a.png", np.zeros((24, 32))), tmp_path / "no.png"])
    with pytest.raises(ValueError, match="no usable sample among the 2 samples.*1 unreadable mask, 1 empty mask"):
        drop_invalid_samples(dataset)


def test_loaders_validate_by_default(tmp_path):
    root = tmp_path / "folder"
    write_image(root / "fish" / "images" / "a.jpg")
    write_mask(root / "fish" / "masks" / "a.png", box_mask())
    write_image(root / "fish" / "images" / "b.jpg")
    write_mask(root / "fish" / "masks" / "b.png", np.zeros((24, 32)))
    with pytest.warns(UserWarning, match="1 empty mask"):
        assert load_image_folder(root)["image_id"] == ["fish/a"]
    assert len(load_image_folder(root, validate=False)) == 2


def test_non_image_columns_are_rejected():
    dataset = datasets.Dataset.from_dict({"image": ["a.jpg"], "mask": ["a.png"]})
    with pytest.raises(ValueError, match="column 'image' is .*expected a datasets.Image"):
        drop_invalid_samples(dataset)
