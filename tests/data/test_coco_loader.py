import json
import warnings

import numpy as np
import pytest
from data_helpers import write_image
from pycocotools import mask as mask_utils

from samptx_hf.data import load_coco, select_image_ids

HEIGHT, WIDTH = 20, 30


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


@pytest.fixture
def coco_files(tmp_path):
    image_dir = tmp_path / "train2017"
    write_image(image_dir / "000000000001.jpg", HEIGHT, WIDTH, seed=1)
    write_image(image_dir / "000000000002.jpg", HEIGHT, WIDTH, seed=2)
    dog_rle = np.zeros((HEIGHT, WIDTH), dtype=bool)
    dog_rle[10:18, 20:28] = True
    annotation = {
        "images": [
            {"id": 1, "file_name": "000000000001.jpg", "height": HEIGHT, "width": WIDTH},
            {"id": 2, "file_name": "000000000002.jpg", "height": HEIGHT, "width": WIDTH},
        ],
        "categories": [{"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "annotations": [
            # two cats on image 1 (polygons), one dog as a crowd RLE on image 1, one dog polygon on image 2
            {"id": 1, "image_id": 1, "category_id": 17, "iscrowd": 0, "area": 16, "bbox": [2, 2, 4, 4],
             "segmentation": [[2, 2, 6, 2, 6, 6, 2, 6]]},
            {"id": 2, "image_id": 1, "category_id": 17, "iscrowd": 0, "area": 16, "bbox": [10, 2, 4, 4],
             "segmentation": [[10, 2, 14, 2, 14, 6, 10, 6]]},
            {"id": 3, "image_id": 1, "category_id": 18, "iscrowd": 1, "area": 64, "bbox": [20, 10, 8, 8],
             "segmentation": _rle(dog_rle)},
            {"id": 4, "image_id": 2, "category_id": 18, "iscrowd": 0, "area": 36, "bbox": [0, 0, 6, 6],
             "segmentation": [[0, 0, 6, 0, 6, 6, 0, 6]]},
        ],
    }  # fmt: skip
    annotation_file = tmp_path / "instances_train2017.json"
    annotation_file.write_text(json.dumps(annotation))
    return annotation_file, image_dir, dog_rle


def test_load_coco_one_sample_per_image_and_category(coco_files):
    annotation_file, image_dir, dog_rle = coco_files
    dataset = load_coco(annotation_file, image_dir)

    assert list(zip(dataset["image_id"], dataset["class_name"], strict=True)) == [
        ("1", "cat"),
        ("1", "dog"),
        ("2", "dog"),
    ]
    cats = np.asarray(dataset[0]["mask"]) > 0
    # the target is the union of both cat polygons, and nothing else
    assert cats[3, 3] and cats[3, 11]
    assert not cats[3, 8] and not cats[14, 24]
    assert cats.sum() == pytest.approx(2 * 16, abs=12)
    np.testing.assert_array_equal(np.asarray(dataset[1]["mask"]) > 0, dog_rle)
    assert dataset[0]["image"].size == (WIDTH, HEIGHT)


def test_load_coco_class_filter_and_image_ids(coco_files):
    annotation_file, image_dir, _ = coco_files
    assert load_coco(annotation_file, image_dir, class_names=["dog"])["image_id"] == ["1", "2"]
    assert load_coco(annotation_file, image_dir, image_ids=["2"])["class_name"] == ["dog"]
    with pytest.raises(ValueError, match=r"\['unicorn'\] are not categories"):
        load_coco(annotation_file, image_dir, class_names=["unicorn"])


def test_load_coco_drops_missing_images_with_a_warning(coco_files):
    annotation_file, image_dir, _ = coco_files
    (image_dir / "000000000002.jpg").unlink()
    with pytest.warns(UserWarning, match="1 unreadable image"):
        dataset = load_coco(annotation_file, image_dir)
    assert set(dataset["image_id"]) == {"1"}


@pytest.mark.parametrize(
    ("content", "message"),
    [("{}", r"has no 'images', 'annotations', 'categories' list"), ("[]", "holds a JSON list"),
     ('{"images": [}', "is not valid JSON")],
)  # fmt: skip
def test_a_file_that_is_not_coco_instances_is_named(tmp_path, content, message):
    (tmp_path / "instances.json").write_text(content)
    with pytest.raises(ValueError, match=rf"instances.json {message}"):
        load_coco(tmp_path / "instances.json", tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.json' does not exist"):
        load_coco(tmp_path / "missing.json", tmp_path)


def test_load_coco_says_which_categories_each_image_holds(coco_files):
    annotation_file, image_dir, _ = coco_files
    dataset = load_coco(annotation_file, image_dir)
    assert dataset["present_classes"] == [["cat", "dog"], ["cat", "dog"], ["dog"]]
    # a class filter keeps the samples it names, but an image's other categories are still present in it
    assert load_coco(annotation_file, image_dir, class_names=["dog"])["present_classes"][0] == ["cat", "dog"]


def test_load_coco_rasterises_and_reads_only_the_listed_images(coco_files, tmp_path):
    annotation_file, image_dir, _ = coco_files
    instances = json.loads(annotation_file.read_text())
    # An unlisted image that is not on disk, with an annotation pycocotools cannot rasterise: reading or
    # rasterising it would warn or fail.
    instances["images"].append({"id": 3, "file_name": "000000000003.jpg", "height": HEIGHT, "width": WIDTH})
    instances["annotations"].append(
        {"id": 5, "image_id": 3, "category_id": 17, "iscrowd": 1, "segmentation": {"counts": None, "size": None}}
    )
    annotation_file.write_text(json.dumps(instances))
    listed = tmp_path / "labeled.txt"
    listed.write_text("train2017/000000000002.jpg masks/000000000002.png\n\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_coco(annotation_file, image_dir, image_list=listed)
    assert dataset["image_id"] == ["2"] and dataset["class_name"] == ["dog"]
    assert dataset["present_classes"] == [["dog"]]
    with pytest.raises(ValueError, match=r"listed image '000000000009.jpg' of .*labeled.txt is not in instances_train"):
        listed.write_text("train2017/000000000002.jpg\ntrain2017/000000000009.jpg masks/000000000009.png")
        load_coco(annotation_file, image_dir, image_list=listed)


def test_load_coco_draws_a_fraction_of_the_annotated_images_before_reading(coco_files):
    annotation_file, image_dir, _ = coco_files
    instances = json.loads(annotation_file.read_text())
    instances["images"].append({"id": 3, "file_name": "000000000003.jpg", "height": HEIGHT, "width": WIDTH})
    annotation_file.write_text(json.dumps(instances))  # image 3 has no annotation: never drawn
    chosen = select_image_ids(["1", "2"], 0.5, seed=4)
    (image_dir / f"{int(({'1', '2'} - set(chosen)).pop()):012d}.jpg").unlink()  # the other one is not read
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_coco(annotation_file, image_dir, fraction=0.5, seed=4)
    assert set(dataset["image_id"]) == set(chosen)


def test_the_listed_annotations_decoded_alone_are_those_of_a_full_parse(coco_files, tmp_path):
    # With a list, only the listed images' annotations are decoded from the text (RLE objects included, keys in any
    # order); the samples are those of the whole file's parse.
    annotation_file, image_dir, _ = coco_files
    whole = load_coco(annotation_file, image_dir)
    listed = load_coco(annotation_file, image_dir, image_list=["000000000001.jpg", "000000000002.jpg"])
    assert listed["image_id"] == whole["image_id"] and listed["class_name"] == whole["class_name"]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(listed["mask"], whole["mask"], strict=True))
    # A file not laid out as instances: parsed whole, and named as without a list.
    (tmp_path / "instances.json").write_text('{"images": [], "annotations": {}}')
    with pytest.raises(ValueError, match="instances.json has no 'annotations', 'categories' list"):
        load_coco(tmp_path / "instances.json", image_dir, image_list=["000000000002.jpg"])
