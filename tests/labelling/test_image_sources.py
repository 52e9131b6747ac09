"""The images to label: a folder (recursive, sorted), a COCO file's image list, a saved `datasets` dataset."""

import json

import datasets
import numpy as np
import pytest
from hub_factories import make_image

from samptx_hf.labelling import ImageEntry, open_image_source


def test_a_folder_lists_every_file_recursively_in_order_and_reports_unreadable_ones(tmp_path):
    (tmp_path / "b").mkdir()
    make_image(seed=1).save(tmp_path / "b" / "z.jpg")
    make_image(seed=2).save(tmp_path / "a.png")
    (tmp_path / "b" / "readme.txt").write_text("hello")
    (tmp_path / ".hidden.png").write_bytes(b"")
    source = open_image_source(tmp_path)
    assert source.entries == [ImageEntry(0, 1, "a.png"), ImageEntry(1, 2, "b/readme.txt"), ImageEntry(2, 3, "b/z.jpg")]
    assert np.array_equal(np.asarray(source[0].image), np.asarray(make_image(seed=2)))
    unreadable = source[1]
    assert unreadable.image is None and "cannot read" in unreadable.error and "readme.txt" in unreadable.error
    assert source.subset([2]).entries == [source.entries[2]]


def test_a_coco_file_keeps_its_ids_and_reads_from_its_root(tmp_path):
    (tmp_path / "pictures").mkdir()
    make_image().save(tmp_path / "pictures" / "x.png")
    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps({"images": [{"id": 42, "file_name": "x.png"}], "annotations": []}))
    source = open_image_source(coco, image_root=tmp_path / "pictures")
    assert source.entries == [ImageEntry(0, 42, "x.png")] and source[0].image.size == (80, 48)
    coco.write_text(json.dumps({"images": [{"file_name": "x.png"}]}))
    with pytest.raises(ValueError, match="images\\[0\\] is .*expected an integer 'id' and a 'file_name'"):
        open_image_source(coco)


def test_a_saved_dataset_reads_its_image_column(tmp_path):
    images = [make_image(seed=seed) for seed in range(3)]
    dataset = datasets.Dataset.from_dict({"picture": images}, features=datasets.Features({"picture": datasets.Image()}))
    dataset.save_to_disk(tmp_path / "saved")
    source = open_image_source(tmp_path / "saved", image_column="picture")
    assert [entry.file_name for entry in source.entries] == ["0", "1", "2"]
    assert np.array_equal(np.asarray(source[2].image), np.asarray(images[2]))
    with pytest.raises(ValueError, match="has columns \\['picture'\\], not --image-column 'image'"):
        open_image_source(tmp_path / "saved")


def test_split_picks_a_split_of_a_saved_dataset_dict_and_must_name_a_saved_split(tmp_path):
    features = datasets.Features({"image": datasets.Image()})
    splits = {
        name: datasets.Dataset.from_dict({"image": [make_image(seed=seed)] * rows}, features=features, split=name)
        for name, rows, seed in (("train", 3, 0), ("validation", 2, 1))
    }
    datasets.DatasetDict(splits).save_to_disk(tmp_path / "dict")
    assert len(open_image_source(tmp_path / "dict").entries) == 3  # train by default
    validation = open_image_source(tmp_path / "dict", split="validation")
    assert len(validation.entries) == 2
    assert np.array_equal(np.asarray(validation[0].image), np.asarray(make_image(seed=1)))
    with pytest.raises(ValueError, match=r"has splits \['train', 'validation'\], not --split 'test'"):
        open_image_source(tmp_path / "dict", split="test")

    splits["validation"].save_to_disk(tmp_path / "one")  # one split saved alone: that split
    assert len(open_image_source(tmp_path / "one").entries) == 2
    assert len(open_image_source(tmp_path / "one", split="validation").entries) == 2
    with pytest.raises(ValueError, match=r"is one split saved alone \(split 'validation'\), not --split 'train'"):
        open_image_source(tmp_path / "one", split="train")
    datasets.Dataset.from_dict({"image": [make_image()]}, features=features).save_to_disk(tmp_path / "unnamed")
    with pytest.raises(ValueError, match="a dataset without a split name\\), not --split 'validation': leave --split"):
        open_image_source(tmp_path / "unnamed", split="validation")


def test_split_is_refused_for_a_folder_of_files_or_a_coco_file(tmp_path):
    make_image().save(tmp_path / "a.png")
    (tmp_path / "instances.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}]}))
    with pytest.raises(ValueError, match="--split is for a dataset, but the images are the folder .* leave --split"):
        open_image_source(tmp_path, split="validation")
    with pytest.raises(ValueError, match="--split is for a dataset, but the images are the file .*instances.json"):
        open_image_source(tmp_path / "instances.json", split="validation")
