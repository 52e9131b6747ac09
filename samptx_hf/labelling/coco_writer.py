"""Predictions as COCO instances annotations: RLE masks (pycocotools), boxes, areas and scores, and PNG files.

Two ways to cut a class's mask into annotations (`mode`):

- `"instances"`: one annotation per connected component of the mask (8-connected pixels), each with the class's
  score: every object of the class on its own, as COCO's instance annotations are.
- `"semantic"`: one annotation per present class, its whole mask: the stuff-style reading.

A class whose mask is empty (absent, or nothing above the threshold) gives no annotation.
"""

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from scipy import ndimage

from .annotator import ClassPrediction

ANNOTATION_MODES = ("instances", "semantic")
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def categories_of(classes: Sequence[str]) -> list[dict[str, Any]]:
    """COCO `categories` of a vocabulary: class `classes[i]` is category id `i + 1`."""
    return [{"id": index, "name": name, "supercategory": "object"} for index, name in enumerate(classes, start=1)]


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """The COCO RLE of a boolean `(height, width)` mask, `counts` as a string (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(side) for side in rle["size"]], "counts": rle["counts"].decode("ascii")}


def image_annotations(predictions: Sequence[ClassPrediction], classes: Sequence[str], mode: str) -> list[dict]:
    """The COCO annotations of one image's predictions, without `id` and `image_id` (given when runs are merged).

    Args:
        predictions: One per class, as [`BatchAnnotator.annotate`] returns them for an image.
        classes: The vocabulary (category `i + 1` is `classes[i]`).
        mode: `"instances"` (one annotation per connected component) or `"semantic"` (one per class).

    Raises:
        ValueError: On another `mode`, or a prediction of a class outside `classes`.
    """
    if mode not in ANNOTATION_MODES:
        raise ValueError(f"mode={mode!r}, expected one of {ANNOTATION_MODES}")
    category_of = {name: index for index, name in enumerate(classes, start=1)}
    annotations = []
    for prediction in predictions:
        if prediction.class_name not in category_of:
            raise ValueError(f"class {prediction.class_name!r} is not in the vocabulary {list(classes)}")
        if not prediction.mask.any():
            continue
        if mode == "semantic":
            pieces = [prediction.mask]
        else:
            components, count = ndimage.label(prediction.mask, structure=_EIGHT_CONNECTED)
            pieces = [components == label for label in range(1, count + 1)]
        for piece in pieces:
            rle = encode_rle(piece)
            coco_rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
            annotations.append(
                {
                    "category_id": category_of[prediction.class_name],
                    "segmentation": rle,
                    "area": int(mask_utils.area(coco_rle)),
                    "bbox": [float(value) for value in mask_utils.toBbox(coco_rle)],
                    "iscrowd": 0,
                    "score": round(float(prediction.score), 6),
                }
            )
    return annotations


def coco_document(
    images: Iterable[Mapping[str, Any]], annotations_of_image: Mapping[int, Sequence[Mapping]], classes: Sequence[str]
) -> dict[str, Any]:
    """A COCO instances document: `images` in the order given, their annotations numbered from 1 in that order.

    Args:
        images: COCO image entries (`id`, `file_name`, `height`, `width`).
        annotations_of_image: Each image id's annotations from [`image_annotations`].
        classes: The vocabulary.
    """
    images = [dict(image) for image in images]
    annotations = []
    for image in images:
        for annotation in annotations_of_image.get(image["id"], []):
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], **annotation})
    return {"images": images, "annotations": annotations, "categories": categories_of(classes)}


def write_json_atomically(path: str | os.PathLike, document: Any) -> None:
    """Write `document` as JSON to `path` through a temporary file and a rename: a reader (or a crash) sees the old
    file or the new one, never half of one."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(document, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def picture_name(file_name: str) -> str:
    """An image's name under `label_maps/` and `masks/`: its `file_name`, sub-folders and extension kept
    (`sub/a.jpg`), so that `a.png` and `a.jpg` get names of their own. A leading `/` and `.` parts are dropped and a
    `..` part becomes `__`, so that every name stays inside its folder."""
    parts = [part for part in PurePosixPath(file_name).parts if part not in ("/", ".")]
    return "/".join("__" if part == ".." else part for part in parts) or "_"


def label_map_path(output: Path, file_name: str) -> Path:
    """`output/label_maps/<picture_name>.png`: the label map of the image `file_name`."""
    return output / "label_maps" / f"{picture_name(file_name)}.png"


def class_masks_folder(output: Path, file_name: str) -> Path:
    """`output/masks/<picture_name>/`: the folder of the class masks of the image `file_name`."""
    return output / "masks" / picture_name(file_name)


def save_label_map(path: Path, label_map: np.ndarray) -> None:
    """A label map (0 background, `i + 1` class `i`) as a lossless PNG: 8-bit up to 255 classes, else 16-bit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint8 if label_map.max(initial=0) <= 255 else np.uint16
    Image.fromarray(label_map.astype(dtype)).save(path, format="PNG")


def save_class_masks(folder: Path, predictions: Sequence[ClassPrediction]) -> None:
    """`folder/<class>.png` (0/255) for each class with a non-empty mask; characters other than letters, digits,
    `.`, `-` and `_` in the class name become `_`."""
    for prediction in predictions:
        if prediction.mask.any():
            folder.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", prediction.class_name)[:64]
            Image.fromarray(prediction.mask.astype(np.uint8) * 255).save(folder / f"{name}.png", format="PNG")


__all__ = [
    "ANNOTATION_MODES",
    "categories_of",
    "class_masks_folder",
    "coco_document",
    "encode_rle",
    "image_annotations",
    "label_map_path",
    "picture_name",
    "save_class_masks",
    "save_label_map",
    "write_json_atomically",
]
