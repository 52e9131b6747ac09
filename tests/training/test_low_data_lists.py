"""`examples/train.py` with a standard low-data list: the run reads and trains on the listed images only."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _write_coco(root: Path, categories_by_image: dict[int, list[str]]) -> Path:
    """An image folder and an instances file: each image holds a square of each of its categories."""
    names = sorted({name for names in categories_by_image.values() for name in names})
    category_ids = {name: index + 1 for index, name in enumerate(names)}
    instances = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for n, i in category_ids.items()]}
    for image_id, image_categories in categories_by_image.items():
        file_name = f"{image_id:012d}.jpg"
        (root / "images").mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(image_id).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / file_name)
        instances["images"].append({"id": image_id, "file_name": file_name, "height": 48, "width": 64})
        for index, name in enumerate(image_categories):
            x = 4 + 20 * index
            instances["annotations"].append(
                {"id": len(instances["annotations"]) + 1, "image_id": image_id, "category_id": category_ids[name],
                 "iscrowd": 0, "segmentation": [[x, 8, x + 14, 8, x + 14, 30, x, 30]]}
            )  # fmt: skip
    (root / "instances.json").write_text(json.dumps(instances))
    return root


@pytest.mark.slow
def test_train_py_trains_on_the_listed_coco_images_only(tmp_path):
    coco = _write_coco(tmp_path / "coco", {1: ["cat", "dog"], 2: ["dog"], 3: ["owl"], 4: ["owl", "cat"]})
    (tmp_path / "labeled.txt").write_text(
        "train2017/000000000002.jpg masks/000000000002.png\ntrain2017/000000000003.jpg"
    )
    (tmp_path / "val.txt").write_text("val2017/000000000004.jpg masks/000000000004.png")
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import train as train_script
    finally:
        sys.path.remove(str(REPO / "examples"))
    results = train_script.main(
        ["--dataset", "coco", "--train_images", str(coco / "images"), "--eval_images", str(coco / "images"),
         "--train_annotations", str(coco / "instances.json"), "--eval_annotations", str(coco / "instances.json"),
         "--train_list", str(tmp_path / "labeled.txt"), "--eval_list", str(tmp_path / "val.txt"),
         "--sam_model_name_or_path", "tiny-random", "--text_model_name_or_path", "tiny-random",
         "--tiny_image_size", "64", "--tiny_hidden_size", "32", "--tiny_num_layers", "2", "--adapter_r", "4",
         "--max_steps", "2", "--warmup_steps", "1", "--per_device_train_batch_size", "2", "--disable_tqdm", "true",
         "--output_dir", str(tmp_path / "run")]
    )  # fmt: skip
    assert results["class_names"] == ["dog", "owl"]  # images 2 and 3: the cats of images 1 and 4 are not read
    assert results["num_samples"] == 2 and set(results["per_class"]) == {"cat", "owl"}  # image 4, held out
