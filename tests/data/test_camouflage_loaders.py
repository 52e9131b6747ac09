import warnings

import pytest
from data_helpers import box_mask, write_image, write_mask

from samptx_hf.data import load_camo, load_camouflage, load_chameleon, load_split
from samptx_hf.training import DataArguments
from samptx_hf.training.datasets import load_splits


@pytest.fixture
def camouflage_root(tmp_path, cod10k_root):
    """The three sets in their released layouts, side by side: COD10K-v3, CAMO-V.1.0-CVIU2019, CHAMELEON."""
    camo = tmp_path / "CAMO-V.1.0-CVIU2019"
    for split, stems in (("Train", ["camourflage_00001", "camourflage_00002"]), ("Test", ["camourflage_00003"])):
        for index, stem in enumerate(stems):
            write_image(camo / "Images" / split / f"{stem}.jpg", seed=index)
            write_mask(camo / "GT" / f"{stem}.png", box_mask())
    for stem in ("animal-1", "animal-2"):
        write_image(tmp_path / "CHAMELEON" / "Imgs" / f"{stem}.jpg")
        write_mask(tmp_path / "CHAMELEON" / "GT" / f"{stem}.png", box_mask())
    return tmp_path


def test_camo_splits_are_camouflaged_objects(camouflage_root):
    train = load_camo(camouflage_root / "CAMO-V.1.0-CVIU2019", split="train")
    assert train["image_id"] == ["camourflage_00001", "camourflage_00002"]
    assert set(train["class_name"]) == {"camouflaged object"} and train["present_classes"][0] == ["camouflaged object"]
    assert load_camo(camouflage_root, split="test")["image_id"] == ["camourflage_00003"]  # the parent works too
    assert load_split("camo", camouflage_root / "CAMO-V.1.0-CVIU2019")["image_id"] == ["camourflage_00003"]


def test_chameleon_is_a_test_set_of_camouflaged_animals(camouflage_root):
    dataset = load_chameleon(camouflage_root / "CHAMELEON")
    assert dataset["image_id"] == ["animal-1", "animal-2"] and set(dataset["class_name"]) == {"camouflaged animal"}
    with pytest.raises(ValueError, match="CHAMELEON has only a test split"):
        load_chameleon(camouflage_root / "CHAMELEON", split="train")


def test_wrong_layouts_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not hold CAMO's layout Images/Train, Images/Test and GT/"):
        load_camo(tmp_path)
    with pytest.raises(ValueError, match="does not hold CHAMELEON's layout Imgs/"):
        load_chameleon(tmp_path)
    with pytest.raises(ValueError, match="has no folder of cod10k"):
        load_camouflage(tmp_path)


def test_camouflage_trains_on_cod10k_and_camo_and_tests_on_three(camouflage_root):
    train = load_camouflage(camouflage_root, split="train")
    assert train["source"] == ["cod10k"] * 5 + ["camo"] * 2
    assert train["class_name"][:2] == ["bat fish", "pipefish"] and train["class_name"][-1] == "camouflaged object"
    test = load_camouflage(camouflage_root, split="test")
    assert test["source"] == ["cod10k", "camo", "chameleon", "chameleon"]
    assert test["class_name"] == ["crab", "camouflaged object", "camouflaged animal", "camouflaged animal"]


def test_camouflage_lists_name_images_of_any_set(camouflage_root, tmp_path):
    (camouflage_root / "CAMO-V.1.0-CVIU2019" / "Images" / "Train" / "camourflage_00001.jpg").write_bytes(b"")
    listed = tmp_path / "labeled.txt"
    listed.write_text(
        "Images/Train/camourflage_00002.jpg GT/camourflage_00002.png\nCOD10K-CAM-2-Terrestrial-23-Cat-3.jpg"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_camouflage(camouflage_root, split="train", image_list=listed)
    assert dataset["image_id"] == ["COD10K-CAM-2-Terrestrial-23-Cat-3", "camourflage_00002"]
    with pytest.raises(ValueError, match="listed image 'animal-1.jpg' is in none of cod10k, camo train"):
        load_camouflage(camouflage_root, split="train", image_list=["animal-1.jpg"])


def test_training_on_the_camouflage_protocol(camouflage_root):
    train, evaluation = load_splits(DataArguments(dataset="camouflage", data_dir=str(camouflage_root)))
    assert sorted(set(train["source"])) == ["camo", "cod10k"]
    assert sorted(set(evaluation["source"])) == ["camo", "chameleon", "cod10k"]
