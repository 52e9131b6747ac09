import warnings

import datasets
import numpy as np
import pytest
from data_helpers import box_mask, write_image, write_mask
from PIL import Image

from samptx_hf.data import (
    from_hf_dataset,
    load_image_folder,
    load_split,
    read_image_list,
    select_image_ids,
    select_images,
)
from samptx_hf.training import DataArguments
from samptx_hf.training.datasets import load_splits


def test_a_list_names_each_image_by_the_file_name_of_its_first_field(tmp_path):
    # The lists' own form: image path, mask path; blank lines, other separators, no newline at the end.
    (tmp_path / "labeled.txt").write_text(
        "train2017/000000177254.jpg masks/000000177254.png\n\n"
        "train2017/000000210467.jpg\tmasks/000000210467.png\r\n"
        "  000000468760.jpg\n"
        "train2017/000000177254.jpg masks/000000177254.png"
    )
    assert read_image_list(tmp_path / "labeled.txt") == ["000000177254.jpg", "000000210467.jpg", "000000468760.jpg"]


def test_a_missing_or_empty_list_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="image list '.*nowhere.txt' does not exist"):
        read_image_list(tmp_path / "nowhere.txt")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(ValueError, match="empty.txt' names no image"):
        read_image_list(tmp_path / "empty.txt")


def test_select_images_keeps_the_listed_then_draws_a_fraction_of_them():
    names = [f"{k}.jpg" for k in range(10)]
    ids = [str(k) for k in range(10)]
    assert select_images(names, ids, ["3.jpg", "1.jpg"]) == [1, 3]
    listed = [f"{k}.jpg" for k in range(8)]
    kept = select_images(names, ids, listed, fraction=0.5, seed=2)
    assert [ids[k] for k in kept] == select_image_ids(ids[:8], 0.5, seed=2)
    with pytest.raises(ValueError, match=r"listed image '12.jpg' is not in the split \(and 1 more of the 3 listed\)"):
        select_images(names, ids, ["1.jpg", "12.jpg", "13.jpg"])


def _class_folders(root, classes=("owl", "moth"), count=3):
    for class_name in classes:
        for index in range(count):
            write_image(root / class_name / "images" / f"{index}.jpg", seed=index)
            write_mask(root / class_name / "masks" / f"{index}.png", box_mask())


def test_folder_reads_only_the_listed_images_in_every_class_folder(tmp_path):
    _class_folders(tmp_path)
    (tmp_path / "moth" / "images" / "2.jpg").write_bytes(b"unlisted, and not an image")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_image_folder(tmp_path, image_list=["1.jpg"])
    assert dataset["image_id"] == ["moth/1", "owl/1"]
    assert dataset["present_classes"] == [["moth", "owl"], ["moth", "owl"]]  # the same file in both folders
    with pytest.raises(ValueError, match="listed image '7.jpg' is not in"):
        load_image_folder(tmp_path, image_list=["7.jpg"])


def test_folder_draws_a_fraction_before_reading(tmp_path):
    _class_folders(tmp_path, classes=("owl",), count=8)
    ids = [f"owl/{k}" for k in range(8)]
    chosen = select_image_ids(ids, 0.25, seed=3)
    for image_id in set(ids) - set(chosen):
        (tmp_path / "owl" / "images" / f"{image_id.split('/')[1]}.jpg").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image_folder(tmp_path, fraction=0.25, seed=3)["image_id"] == chosen


def test_hf_dataset_rows_are_chosen_by_image_file_name_before_decoding(tmp_path):
    for index in range(3):
        write_image(tmp_path / f"{index}.jpg", seed=index)
        write_mask(tmp_path / f"{index}_mask.png", box_mask())
    (tmp_path / "2.jpg").write_bytes(b"unlisted, and not an image")
    source = datasets.Dataset.from_dict(
        {
            "image": [str(tmp_path / f"{index}.jpg") for index in range(3)],
            "mask": [str(tmp_path / f"{index}_mask.png") for index in range(3)],
            "class_name": ["owl", "moth", "owl"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = from_hf_dataset(source, image_list=["1.jpg", "0.jpg"])
    assert dataset["class_name"] == ["owl", "moth"]
    in_memory = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(np.zeros((24, 32, 3), np.uint8))] * 2, "mask": [Image.fromarray(box_mask())] * 2,
         "class_name": ["owl", "moth"], "image_id": ["a", "b"]},
    )  # fmt: skip
    assert from_hf_dataset(in_memory, image_list=["b"])["class_name"] == ["moth"]  # bytes only: by image_id


def test_training_reads_the_listed_images_of_both_splits(tmp_path):
    _class_folders(tmp_path / "train")
    _class_folders(tmp_path / "test", classes=("owl",))
    (tmp_path / "train.txt").write_text("images/0.jpg masks/0.png\nimages/2.jpg masks/2.png")
    (tmp_path / "test.txt").write_text("images/1.jpg masks/1.png\n")
    args = DataArguments(
        dataset="folder", data_dir=str(tmp_path), train_list=str(tmp_path / "train.txt"),
        eval_list=str(tmp_path / "test.txt"),
    )  # fmt: skip
    train, evaluation = load_splits(args)
    assert train["image_id"] == ["moth/0", "moth/2", "owl/0", "owl/2"] and train["sample_index"] == [0, 1, 2, 3]
    assert evaluation["image_id"] == ["owl/1"]
    (tmp_path / "train.txt").write_text("images/5.jpg masks/5.png\n")
    with pytest.raises(ValueError, match="listed image '5.jpg' of .*train.txt is not in .*train"):
        load_splits(args)


def test_training_lists_are_checked_with_the_arguments(tmp_path):
    with pytest.raises(ValueError, match="argument --train_list: --dataset synthetic generates its samples"):
        DataArguments(train_list=str(tmp_path))
    with pytest.raises(ValueError, match="argument --eval_list: '.*missing.txt' is not a file"):
        DataArguments(dataset="folder", data_dir=str(tmp_path), eval_list=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="image_list is not used by dataset 'synthetic'"):
        load_split("synthetic", num_samples=2, image_list=tmp_path / "labeled.txt")


def test_a_synthetic_fraction_is_drawn_as_before():
    args = DataArguments(num_train_samples=40, num_eval_samples=3, fraction=0.25)
    train, _ = load_splits(args)
    everything = load_split("synthetic", num_samples=40, seed=0)
    assert set(train["image_id"]) == set(select_image_ids(everything["image_id"], 0.25, seed=0))
