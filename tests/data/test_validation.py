import warnings

import datasets
import numpy as np
import pytest
from data_helpers import box_mask, write_image, write_mask
from PIL import Image

from samptx_hf.data import (
    DroppedSamplesWarning,
    NonBinaryMaskWarning,
    drop_invalid_samples,
    load_image_folder,
    load_split,
    to_binary_mask,
)


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
    for part in ("1 unreadable image", "1 missing mask", "2 size mismatch", "1 empty mask"):
        assert part in message
    assert "good.jpg: no mask named missing.png" in message
    assert "corrupt.jpg: the image cannot be decoded" in message
    assert caught[0].message.counts == {"unreadable image": 1, "missing mask": 1, "size mismatch": 2, "empty mask": 1}
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
    with pytest.raises(ValueError, match="no usable sample among the 2 samples.*1 missing mask, 1 empty mask"):
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


def _jpeg_mask(path, mask):
    """A 0/255 mask saved as JPEG, as image editors and OpenCV's imwrite("mask.jpg") do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path, quality=60)
    return path


def _soft_mask(path, mask, seed=0):
    """A mask with low noise (1..20) in the background and 200..255 on the object, as soft or resampled masks have."""
    rng = np.random.default_rng(seed)
    values = np.where(mask, rng.integers(200, 256, mask.shape), rng.integers(1, 21, mask.shape)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)
    return path


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("write", [_jpeg_mask, _soft_mask], ids=["jpeg", "soft"])
def test_a_mask_that_is_not_binary_is_read_by_the_rule_and_named(tmp_path, write):
    truth = box_mask(64, 64, 13, 11, 27)  # edges off JPEG's 8-pixel blocks
    write_image(tmp_path / "fish" / "images" / "0001.jpg", 64, 64)
    write_mask(tmp_path / "fish" / "masks" / "0000.png", truth)
    write_image(tmp_path / "fish" / "images" / "0000.jpg", 64, 64)
    mask_file = write(tmp_path / "fish" / "masks" / "0001.jpg", truth)

    with pytest.warns(
        NonBinaryMaskWarning, match=r"1 of 2 masks are read as foreground = value >= 128, not non-zero"
    ) as caught:
        dataset = load_image_folder(tmp_path)

    warning = caught[0].message
    assert warning.masks == [str(mask_file)]
    assert f"in {mask_file.parent}:\n  0001.jpg: " in str(warning) and "0000.png" not in str(warning)
    read = to_binary_mask(dataset[1]["mask"])
    assert _iou(read, truth) > 0.95 > _iou(np.asarray(dataset[1]["mask"]) > 0, truth)  # better than non-zero


@pytest.mark.parametrize("foreground_value", [1, 255])
def test_binary_masks_pass_without_a_warning(tmp_path, foreground_value):
    write_image(tmp_path / "fish" / "images" / "0000.jpg")
    mask = box_mask().astype(np.uint8) * foreground_value
    (tmp_path / "fish" / "masks").mkdir(parents=True)
    Image.fromarray(mask).save(tmp_path / "fish" / "masks" / "0000.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_image_folder(tmp_path)
    assert np.array_equal(to_binary_mask(dataset[0]["mask"]), box_mask())


def test_a_soft_mask_without_any_pixel_at_128_is_dropped_as_empty_and_says_why(tmp_path):
    image = write_image(tmp_path / "a.jpg")
    faint = tmp_path / "faint.png"
    Image.fromarray(np.where(box_mask(), 90, 5).astype(np.uint8)).save(faint)
    good = write_mask(tmp_path / "good.png", box_mask())
    with pytest.warns(DroppedSamplesWarning, match=r"a.jpg: mask faint.png has no pixel >= 128 \(values 5 to 90\)"):
        assert len(drop_invalid_samples(_dataset([image, image], [faint, good]))) == 1


def test_missing_masks_are_named_per_split(tmp_path):
    for split, stems in (("train", ["0000", "0001", "0002"]), ("test", ["0100", "0101"])):
        for stem in stems:
            write_image(tmp_path / split / "fish" / "images" / f"{stem}.jpg")
        for stem in stems[1:]:
            write_mask(tmp_path / split / "fish" / "masks" / f"{stem}.png", box_mask())

    for split, missing in (("train", "0000"), ("test", "0100")):
        with pytest.warns(DroppedSamplesWarning) as caught:
            load_split("folder", tmp_path, split)
        message = str(caught[0].message)
        assert message.startswith("dropped 1 of ") and ": 1 missing mask in " in message
        assert f"{tmp_path / split / 'fish'}:\n" in message
        assert f"images/{missing}.jpg: no mask named {missing}.png (looked for masks/{missing}.png)" in message
        assert caught[0].message.samples == [
            (
                str(tmp_path / split / "fish" / "images" / f"{missing}.jpg"),
                f"no mask named {missing}.png (looked for {tmp_path / split / 'fish' / 'masks' / f'{missing}.png'})",
            )
        ]
