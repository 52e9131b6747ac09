import datasets
import numpy as np
import pytest

from samptx_hf.data import load_cod10k, parse_cod10k_class


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("COD10K-CAM-1-Aquatic-1-BatFish-1.jpg", "bat fish"),
        ("COD10K-CAM-4-Amphibian-6-Frog-2347.jpg", "frog"),
        ("Train/GT_Object/COD10K-CAM-1-Aquatic-9-GhostPipefish-415.png", "ghost pipefish"),
        ("COD10K-CAM-1-Aquatic-14-LeafySeaDragon-683.jpg", "leafy sea dragon"),
        ("COD10K-CAM-5-Other-69-Other-5008.jpg", "camouflaged object"),
        ("COD10K-CAM-2-Terrestrial-40-Stick-Insect-9.jpg", "stick insect"),
        ("COD10K-NonCAM-5-Background-3-Sky-4000.jpg", "sky"),
    ],
)
def test_parse_cod10k_class(filename, expected):
    assert parse_cod10k_class(filename) == expected


@pytest.mark.parametrize("filename", ["IMG_0001.jpg", "COD10K-CAM-Aquatic-BatFish.jpg", "CAMO-1-Aquatic-1-Fish-1.png"])
def test_parse_cod10k_class_rejects_other_names(filename):
    with pytest.raises(ValueError, match="COD10K pattern"):
        parse_cod10k_class(filename)


def test_load_cod10k_train_skips_noncamouflaged(cod10k_root):
    dataset = load_cod10k(cod10k_root, split="train")

    assert isinstance(dataset.features["image"], datasets.Image)
    assert isinstance(dataset.features["mask"], datasets.Image)
    assert dataset["class_name"] == ["bat fish", "pipefish", "cat", "bird", "frog"]
    assert dataset["image_id"][0] == "COD10K-CAM-1-Aquatic-1-BatFish-1"
    assert dataset["super_class"][-1] == "amphibian"
    row = dataset[0]
    assert row["image"].size == row["mask"].size == (32, 24)
    assert np.asarray(row["mask"]).max() == 255


def test_load_cod10k_can_keep_noncamouflaged_with_empty_masks(cod10k_root):
    dataset = load_cod10k(cod10k_root, split="train", include_noncamouflaged=True)

    assert len(dataset) == 6
    assert dataset["camouflaged"].count(False) == 1
    sky = dataset[dataset["class_name"].index("sky")]
    assert not np.asarray(sky["mask"]).any()


def test_load_cod10k_test_split(cod10k_root):
    dataset = load_cod10k(cod10k_root, split="test")
    assert dataset["class_name"] == ["crab"]


def test_load_cod10k_rejects_unknown_split_and_layout(cod10k_root, tmp_path):
    with pytest.raises(ValueError, match="split='val'"):
        load_cod10k(cod10k_root, split="val")
    with pytest.raises(ValueError, match="not a directory"):
        load_cod10k(tmp_path / "nowhere")


def test_load_cod10k_one_class_per_image_and_none_without_an_object(cod10k_root):
    dataset = load_cod10k(cod10k_root, split="train", include_noncamouflaged=True)
    for row in dataset:
        assert row["present_classes"] == ([row["class_name"]] if row["camouflaged"] else [])


def test_load_cod10k_reads_only_the_listed_images(cod10k_root, tmp_path):
    listed = tmp_path / "labeled.txt"
    listed.write_text(
        "Train/Image/COD10K-CAM-3-Flying-53-Bird-4.jpg Train/GT_Object/COD10K-CAM-3-Flying-53-Bird-4.png\n"
        "COD10K-CAM-1-Aquatic-1-BatFish-1.jpg"
    )
    # The unlisted images cannot even be decoded: reading them would drop them with a warning.
    for path in (cod10k_root / "Train" / "Image").glob("*Cat*"):
        path.write_bytes(b"not an image")
    dataset = load_cod10k(cod10k_root, split="train", image_list=listed)
    assert dataset["class_name"] == ["bat fish", "bird"]
    with pytest.raises(ValueError, match="'COD10K-NonCAM-5-Background-3-Sky-4000.jpg' is not in the camouflaged"):
        load_cod10k(cod10k_root, split="train", image_list=["COD10K-NonCAM-5-Background-3-Sky-4000.jpg"])
