import pytest
from data_helpers import box_mask, write_image, write_mask

from samptx_hf.data import load_split, make_parts_splits, make_synthetic_splits
from samptx_hf.training import DataArguments
from samptx_hf.training.datasets import load_splits


def write_class_folder(root, class_name, count):
    for index in range(count):
        write_image(root / class_name / "images" / f"{class_name}{index}.jpg", seed=index)
        write_mask(root / class_name / "masks" / f"{class_name}{index}.png", box_mask())


@pytest.mark.parametrize(
    ("dataset", "make_splits"), [("synthetic", make_parts_splits), ("synthetic_attributes", make_synthetic_splits)]
)
def test_synthetic_samples_are_those_of_a_training_run(dataset, make_splits):
    reference = make_splits(4, 3, seed=0)
    held_out = load_split(dataset, num_samples=3, seed=1)
    assert held_out["image_id"] == reference["test"]["image_id"]
    assert held_out["class_name"] == reference["test"]["class_name"]


def test_named_splits_default_to_the_held_out_one(cod10k_root):
    assert load_split("cod10k", cod10k_root)["class_name"] == ["crab"]
    assert len(load_split("cod10k", cod10k_root, "train")) == 5  # the non-camouflaged image has no object


def test_folder_split_is_a_sub_folder(tmp_path):
    write_class_folder(tmp_path / "train", "cat", 2)
    write_class_folder(tmp_path / "test", "dog", 1)
    assert load_split("folder", tmp_path, "test")["class_name"] == ["dog"]
    assert load_split("folder", tmp_path / "train")["class_name"] == ["cat", "cat"]
    # Without a split, the held-out one (`samptx eval --help`, docs/data.md): root/test when there is one.
    assert load_split("folder", tmp_path)["class_name"] == ["dog"]


def test_training_reads_both_splits_through_load_split(tmp_path):
    write_class_folder(tmp_path / "train", "cat", 2)
    write_class_folder(tmp_path / "test", "dog", 1)
    train, evaluation = load_splits(DataArguments(dataset="folder", data_dir=str(tmp_path)))
    assert train["class_name"] == ["cat", "cat"] and train["sample_index"] == [0, 1]
    assert evaluation["class_name"] == ["dog"]
    train, evaluation = load_splits(DataArguments(num_train_samples=4, num_eval_samples=3, data_seed=0))
    assert evaluation["image_id"] == make_parts_splits(4, 3, seed=0)["test"]["image_id"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda t: load_split("kitti", t),
            ValueError,
            "dataset='kitti' is not one of synthetic, synthetic_attributes, cod10k",
        ),
        (lambda t: load_split("synthetic", num_samples=0), ValueError, "num_samples=0, expected at least 1"),
        (lambda t: load_split("cod10k", flags={"data": "--data"}), ValueError, "'cod10k' needs --data \\(the COD10K"),
        (lambda t: load_split("ade20k", t / "missing"), FileNotFoundError, "data '.*missing' does not exist"),
        (lambda t: load_split("coco", t), ValueError, "'coco' needs annotation_file \\(the instances JSON\\)"),
        (lambda t: load_split("folder", t, "test"), FileNotFoundError, "data '.*test' does not exist"),
    ],
)
def test_what_a_source_needs_is_named(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path)


def test_training_errors_name_the_training_flags():
    # The training arguments check what a source needs before any data is read, in the flags' own names.
    with pytest.raises(ValueError, match="argument --data_dir: --dataset cod10k needs it"):
        DataArguments(dataset="cod10k")
    with pytest.raises(ValueError, match="argument --train_annotations: --dataset coco needs it"):
        DataArguments(dataset="coco")
