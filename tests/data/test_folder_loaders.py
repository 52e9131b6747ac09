import json

import datasets
import numpy as np
import pytest
from data_helpers import box_mask, write_image, write_mask
from PIL import Image

from samptx_hf.data import from_hf_dataset, load_image_folder


def test_class_from_parent_folder(tmp_path):
    for class_dir in ("sea_horse", "crab"):
        write_image(tmp_path / class_dir / "images" / "001.jpg")
        write_mask(tmp_path / class_dir / "masks" / "001.png", box_mask())
    dataset = load_image_folder(tmp_path)
    assert dataset["class_name"] == ["crab", "sea horse"]
    assert dataset["image_id"] == ["crab/001", "sea_horse/001"]
    assert (np.asarray(dataset[0]["mask"]) > 0).sum() == 100


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_class_from_mapping_file(tmp_path, kind):
    for stem in ("a", "b"):
        write_image(tmp_path / "images" / f"{stem}.jpg")
        write_mask(tmp_path / "masks" / f"{stem}.png", box_mask())
    if kind == "json":
        (tmp_path / "classes.json").write_text(json.dumps({"a": "owl", "b.jpg": "moth"}))
    else:
        (tmp_path / "classes.csv").write_text("image,class_name\na.jpg,owl\nb,moth\n")
    dataset = load_image_folder(tmp_path, classes_file=f"classes.{kind}")
    assert dataset["class_name"] == ["owl", "moth"] and dataset["image_id"] == ["a", "b"]


def test_mapping_file_must_cover_every_image(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    (tmp_path / "classes.json").write_text("{}")
    with pytest.raises(ValueError, match=r"1 images have no class .*\['a.jpg'\]"):
        load_image_folder(tmp_path, classes_file="classes.json")


def test_unknown_layout(tmp_path):
    with pytest.raises(ValueError, match="no <class>/images folder"):
        load_image_folder(tmp_path)


def _source_dataset():
    images = [Image.fromarray(np.full((24, 32, 3), i * 40, dtype=np.uint8)) for i in range(3)]
    masks = [Image.fromarray(box_mask().astype(np.uint8) * 255) for _ in range(3)]
    features = datasets.Features(
        {
            "img": datasets.Image(),
            "seg": datasets.Image(),
            "label": datasets.ClassLabel(names=["owl", "moth"]),
        }
    )
    return datasets.Dataset.from_dict({"img": images, "seg": masks, "label": [0, 1, 1]}, features=features)


def test_from_hf_dataset_maps_columns_and_class_labels():
    dataset = from_hf_dataset(_source_dataset(), column_mapping={"img": "image", "seg": "mask", "label": "class_name"})
    assert dataset["class_name"] == ["owl", "moth", "moth"]
    assert dataset["image_id"] == ["0", "1", "2"]
    assert dataset[2]["image"].getpixel((0, 0)) == (80, 80, 80)


def test_from_hf_dataset_reads_a_saved_dataset_dict(tmp_path):
    source = _source_dataset().remove_columns("label")
    datasets.DatasetDict({"train": source, "test": source.select([0])}).save_to_disk(str(tmp_path / "saved"))
    dataset = from_hf_dataset(
        tmp_path / "saved", split="test", column_mapping={"img": "image", "seg": "mask"}, class_name="fish"
    )
    assert len(dataset) == 1 and dataset["class_name"] == ["fish"]
    with pytest.raises(ValueError, match="split='validation' is not in the dataset"):
        from_hf_dataset(tmp_path / "saved", split="validation")


def test_from_hf_dataset_loads_a_local_data_folder(tmp_path):
    """`load_dataset` on a folder of files (as for a Hub repo) works through the same call."""
    folder = tmp_path / "parquet"
    folder.mkdir()
    source = _source_dataset().cast_column("label", datasets.Value("string"))
    source.to_parquet(str(folder / "train.parquet"))
    dataset = from_hf_dataset(str(folder), column_mapping={"img": "image", "seg": "mask", "label": "class_name"})
    assert len(dataset) == 3 and isinstance(dataset.features["mask"], datasets.Image)


def test_from_hf_dataset_names_missing_columns():
    with pytest.raises(ValueError, match=r"columns \['image', 'mask', 'class_name'\] are missing"):
        from_hf_dataset(_source_dataset())
    with pytest.raises(ValueError, match=r"column_mapping names \['picture'\]"):
        from_hf_dataset(_source_dataset(), column_mapping={"picture": "image"})


def test_a_classes_file_that_is_not_json_is_named(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    (tmp_path / "classes.json").write_text('{"a": "owl",}')
    with pytest.raises(ValueError, match=r"classes file .*classes.json is not valid JSON"):
        load_image_folder(tmp_path, classes_file="classes.json")


@pytest.mark.parametrize("flat", [True, False])
def test_a_missing_masks_folder_is_named(tmp_path, flat):
    images = tmp_path / "images" if flat else tmp_path / "owl" / "images"
    write_image(images / "a.jpg")
    (tmp_path / "classes.json").write_text('{"a": "owl"}')
    with pytest.raises(ValueError, match=r"masks is not a folder: expected the layout"):
        load_image_folder(tmp_path, classes_file="classes.json" if flat else None)


@pytest.mark.parametrize(
    ("value", "shown"), [(5, "5 (int)"), (None, "None (NoneType)"), (["ball"], "['ball'] (list)"), ("  ", "'  ' (str)")]
)
def test_a_class_that_is_not_a_name_is_refused_with_the_file_key_and_value(tmp_path, value, shown):
    write_image(tmp_path / "images" / "0001.jpg")
    write_mask(tmp_path / "masks" / "0001.png", box_mask())
    (tmp_path / "classes.json").write_text(json.dumps({"0000": "owl", "0001": value}))
    with pytest.raises(ValueError) as error:
        load_image_folder(tmp_path, classes_file="classes.json")
    message = str(error.value)
    assert message == (
        f"{tmp_path / 'classes.json'}: '0001' has the class {shown}, expected a class name as a non-empty string, "
        'e.g. {"0001": "sea horse"}'
    )
    assert "\n" not in message


def test_a_csv_row_without_a_class_is_refused(tmp_path):
    write_image(tmp_path / "images" / "0001.jpg")
    (tmp_path / "classes.csv").write_text("image,class_name\n0001.jpg\n")
    with pytest.raises(ValueError, match=r"classes.csv: '0001.jpg' has the class None \(NoneType\), expected"):
        load_image_folder(tmp_path, classes_file="classes.csv")


def test_folder_classes_of_an_image_are_those_of_every_folder_holding_it(tmp_path):
    write_image(tmp_path / "crab" / "images" / "001.jpg", seed=1)  # the same photo in two class folders
    write_image(tmp_path / "sea_horse" / "images" / "001.jpg", seed=1)
    write_image(tmp_path / "sea_horse" / "images" / "002.jpg", seed=2)
    write_image(tmp_path / "crab" / "images" / "002.jpg", seed=3)  # another photo, named alike
    for class_dir in ("crab", "sea_horse"):
        for stem in ("001", "002"):
            write_mask(tmp_path / class_dir / "masks" / f"{stem}.png", box_mask())
    dataset = load_image_folder(tmp_path)
    assert dataset["image_id"] == ["crab/001", "crab/002", "sea_horse/001", "sea_horse/002"]
    assert dataset["present_classes"] == [["crab", "sea horse"], ["crab"], ["crab", "sea horse"], ["sea horse"]]


def test_hf_rows_of_one_image_give_its_classes_and_the_union_of_a_class(tmp_path):
    left, right, other = (box_mask(left=left) for left in (0, 12, 20))
    image = Image.fromarray(np.zeros((24, 32, 3), dtype=np.uint8))
    source = datasets.Dataset.from_dict(
        {
            "image": [image] * 4,
            "mask": [Image.fromarray(mask.astype(np.uint8) * 255) for mask in (left, right, other, left)],
            "class_name": ["owl", "owl", "moth", "owl"],
            "image_id": [7, 7, 7, 8],  # image 7 has two owls (one per row) and a moth
        }
    )
    dataset = from_hf_dataset(source)
    assert dataset["present_classes"] == [["owl", "moth"]] * 3 + [["owl"]]
    assert dataset[2]["class_mask"] is None and dataset[3]["class_mask"] is None  # the mask is the whole class
    for index in (0, 1):
        np.testing.assert_array_equal(np.asarray(dataset[index]["class_mask"]) > 0, left | right)
    without_ids = from_hf_dataset(source.remove_columns("image_id"))
    assert without_ids["present_classes"] == [["owl"], ["owl"], ["moth"], ["owl"]]
    assert "class_mask" not in without_ids.column_names
