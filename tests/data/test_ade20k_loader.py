import warnings

import numpy as np
import pytest
from data_helpers import write_image
from PIL import Image

from samptx_hf.data import ADE20K_CLASS_NAMES, load_ade20k, select_image_ids


def test_class_names_are_the_150_scene_parsing_classes():
    assert len(ADE20K_CLASS_NAMES) == len(set(ADE20K_CLASS_NAMES)) == 150
    assert ADE20K_CLASS_NAMES[:5] == ("wall", "building", "sky", "floor", "tree")
    assert ADE20K_CLASS_NAMES[12] == "person" and ADE20K_CLASS_NAMES[-1] == "flag"


@pytest.fixture
def ade_root(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    labels = {
        "ADE_train_00000001": np.array([[0, 1, 1], [3, 3, 1]], dtype=np.uint8),
        "ADE_train_00000002": np.array([[150, 150, 0], [0, 0, 0]], dtype=np.uint8),
        "ADE_train_00000003": np.zeros((2, 3), dtype=np.uint8),  # only "other": no sample
    }
    for stem, label in labels.items():
        label = np.kron(label, np.ones((4, 4), dtype=np.uint8))  # 8 x 12 pixels
        write_image(root / "images" / "training" / f"{stem}.jpg", 8, 12)
        (root / "annotations" / "training").mkdir(parents=True, exist_ok=True)
        Image.fromarray(label).save(root / "annotations" / "training" / f"{stem}.png")
    write_image(root / "images" / "validation" / "ADE_val_00000001.jpg", 8, 12)
    (root / "annotations" / "validation").mkdir(parents=True)
    Image.fromarray(np.full((8, 12), 5, dtype=np.uint8)).save(root / "annotations/validation/ADE_val_00000001.png")
    return tmp_path


def test_load_ade20k_one_sample_per_class_present(ade_root):
    dataset = load_ade20k(ade_root, split="training")  # the parent of ADEChallengeData2016 works too

    assert list(zip(dataset["image_id"], dataset["label_id"], dataset["class_name"], strict=True)) == [
        ("ADE_train_00000001", 1, "wall"),
        ("ADE_train_00000001", 3, "sky"),
        ("ADE_train_00000002", 150, "flag"),
    ]
    wall = np.asarray(dataset[0]["mask"]) > 0
    expected = np.kron(np.array([[0, 1, 1], [0, 0, 1]], dtype=bool), np.ones((4, 4), dtype=bool))
    np.testing.assert_array_equal(wall, expected)


def test_load_ade20k_validation_split_and_image_ids(ade_root):
    assert load_ade20k(ade_root / "ADEChallengeData2016", split="validation")["class_name"] == ["tree"]
    subset = load_ade20k(ade_root, image_ids={"ADE_train_00000002"})
    assert subset["image_id"] == ["ADE_train_00000002"]


def test_load_ade20k_errors(ade_root, tmp_path):
    with pytest.raises(ValueError, match="split='train'"):
        load_ade20k(ade_root, split="train")
    with pytest.raises(ValueError, match="does not hold ADEChallengeData2016"):
        load_ade20k(tmp_path / "elsewhere")


def test_load_ade20k_says_which_classes_each_image_holds(ade_root):
    dataset = load_ade20k(ade_root, split="training")
    assert dataset["present_classes"] == [["wall", "sky"], ["wall", "sky"], ["flag"]]


def test_load_ade20k_reads_only_the_listed_images(ade_root, tmp_path):
    # Unlisted images whose annotation cannot be read: reading it would warn.
    (ade_root / "ADEChallengeData2016" / "annotations" / "training" / "ADE_train_00000001.png").write_bytes(b"")
    listed = tmp_path / "labeled.txt"
    listed.write_text("images/training/ADE_train_00000002.jpg annotations/training/ADE_train_00000002.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_ade20k(ade_root, split="training", image_list=listed)
    assert dataset["image_id"] == ["ADE_train_00000002"] and dataset["class_name"] == ["flag"]
    listed.write_text("images/validation/ADE_val_00000001.jpg annotations/validation/ADE_val_00000001.png\n")
    with pytest.raises(ValueError, match=r"listed image 'ADE_val_00000001.jpg' .* is not in .*images/training"):
        load_ade20k(ade_root, split="training", image_list=listed)


def test_load_ade20k_draws_a_fraction_before_reading(ade_root):
    stems = [f"ADE_train_0000000{k}" for k in (1, 2, 3)]
    chosen = select_image_ids(stems, 1 / 3, seed=1)
    for stem in set(stems) - set(chosen):
        (ade_root / "ADEChallengeData2016" / "annotations" / "training" / f"{stem}.png").write_bytes(b"")
    assert chosen == ["ADE_train_00000001"]  # seed 1 draws an image with classes (00000003 has none)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_ade20k(ade_root, split="training", fraction=1 / 3, seed=1)
    assert set(dataset["image_id"]) == set(chosen)
