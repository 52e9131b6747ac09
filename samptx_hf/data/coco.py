"""COCO instance annotations turned into one semantic sample per (image, category present)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import datasets
import numpy as np

from .conversion import encode_mask_png, segmentation_features
from .subsets import select_images
from .validation import drop_invalid_samples


def load_coco(
    annotation_file: str | Path,
    image_dir: str | Path,
    class_names: Sequence[str] | None = None,
    image_ids: Collection[str] | None = None,
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Loads COCO-format annotations as one sample per (image, category present in it).

    The target of a sample is the union of all the category's instance masks in the image (crowd regions
    included), rasterised with `pycocotools.coco.COCO.annToMask` (polygons and RLE alike). Masks are stored as
    in-memory PNGs; images stay as paths into `image_dir`.

    The images are chosen (`image_ids`, `image_list`, `fraction`) from the file's image entries before any
    annotation is rasterised or image read. With `image_ids` or `image_list`, only the chosen images' annotations are
    even decoded from the JSON (found by their `"image_id"` keys), so a 232-image list costs about the same on
    `instances_train2017.json` (118,287 images, 860,001 annotations) as on a file of those images alone.

    Args:
        annotation_file (`str` or `Path`):
            A COCO instances JSON, e.g. `annotations/instances_train2017.json`.
        image_dir (`str` or `Path`):
            The folder holding the images named by each image's `file_name`, e.g. `train2017/`.
        class_names (`Sequence[str]`, *optional*):
            Keep only these categories (by COCO name). Defaults to all categories.
        image_ids (`Collection[str]`, *optional*):
            Keep only these images (COCO image ids as strings). Use it to rasterise only a low-data subset of
            a large split, e.g. with ids from `select_image_ids`.
        validate (`bool`, defaults to `True`):
            Decode every kept image once and drop unusable samples (see `drop_invalid_samples`).
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the images this low-data list names, matched by `file_name` (see `read_image_list`), e.g.
            UniMatch's `splits/coco/1_512/labeled.txt`.
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of the (listed) images that have an annotation of a kept category (see
            `select_image_ids`).
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    Returns:
        `datasets.Dataset` with columns `image`, `mask` (`datasets.Image`, 0/255 "L"), `class_name` (COCO
        category name), `image_id` (COCO image id as a string), `category_id` (int) and `present_classes` (every
        category annotated in the image, `class_names` or not, by category id), ordered by image id then
        category id. The `mask` is already the union of the class's instances, the target without a point too.

    Raises:
        FileNotFoundError: if `annotation_file` does not exist.
        ValueError: if `annotation_file` is not a COCO instances JSON, a name in `class_names` is not a category of
            the file, a listed image is not in it, or no sample is found.
    """
    from pycocotools.coco import COCO

    where = Path(annotation_file).name
    chosen = image_ids is not None or image_list is not None
    instances = _read_instances(
        Path(annotation_file),
        (lambda images: _listed_images(images, image_ids, image_list, where)) if chosen else None,
    )
    categories = {category["id"]: category["name"] for category in instances["categories"]}
    if class_names is not None:
        unknown = sorted(set(class_names) - set(categories.values()))
        if unknown:
            raise ValueError(
                f"class_names {unknown} are not categories of {annotation_file}; known: {sorted(categories.values())}"
            )
        wanted = {category_id for category_id, name in categories.items() if name in set(class_names)}
    else:
        wanted = set(categories)
    if fraction != 1.0:
        instances = _draw_images(instances, wanted, fraction, seed)
    coco = COCO()
    coco.dataset = instances
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress to stdout
        coco.createIndex()

    features = segmentation_features(
        category_id=datasets.Value("int64"), present_classes=datasets.List(datasets.Value("string"))
    )
    columns: dict[str, list] = {name: [] for name in features}
    for image_id in sorted(coco.getImgIds()):
        image_info = coco.loadImgs(image_id)[0]
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))
        annotated = sorted({ann["category_id"] for ann in annotations})
        present_classes = [categories[category_id] for category_id in annotated if category_id in categories]
        for category_id in sorted(set(annotated) & wanted):
            mask = np.zeros((image_info["height"], image_info["width"]), dtype=bool)
            for annotation in annotations:
                if annotation["category_id"] == category_id:
                    with warnings.catch_warnings():  # pycocotools' numpy-2 copy= deprecation, not ours to fix
                        warnings.simplefilter("ignore", DeprecationWarning)
                        mask |= coco.annToMask(annotation).astype(bool)
            columns["image"].append(str(Path(image_dir) / image_info["file_name"]))
            columns["mask"].append(encode_mask_png(mask))
            columns["class_name"].append(categories[category_id])
            columns["image_id"].append(str(image_id))
            columns["category_id"].append(category_id)
            columns["present_classes"].append(present_classes)
    if not columns["image"]:
        raise ValueError(f"no annotated (image, category) pair found in {annotation_file} with the given filters")

    dataset = datasets.Dataset.from_dict(columns, features=features)
    if validate:
        dataset = drop_invalid_samples(dataset)
    return dataset


def _listed_images(
    images: list[dict],
    image_ids: Collection[str] | None,
    image_list: str | os.PathLike | Collection[str] | None,
    where: str,
) -> list[dict]:
    """The image entries of `image_ids`, then of those the ones `image_list` names by file name."""
    if image_ids is not None:
        wanted_ids = {str(image_id) for image_id in image_ids}
        images = [image for image in images if str(image["id"]) in wanted_ids]
    if image_list is not None:
        names = [os.path.basename(image["file_name"]) for image in images]  # 10x faster than Path on 118,287
        images = [images[index] for index in select_images(names, [""] * len(images), image_list, where=where)]
    return images


def _draw_images(instances: dict, categories: Collection[int], fraction: float, seed: int) -> dict:
    """`instances` cut down to a seeded `fraction` of its images with an annotation of `categories`."""
    annotated = {ann["image_id"] for ann in instances["annotations"] if ann["category_id"] in categories}
    images = [image for image in instances["images"] if image["id"] in annotated]
    kept = select_images([""] * len(images), [str(image["id"]) for image in images], fraction=fraction, seed=seed)
    kept_ids = {images[index]["id"] for index in kept}
    return {
        **instances,
        "images": [image for image in images if image["id"] in kept_ids],
        "annotations": [ann for ann in instances["annotations"] if ann["image_id"] in kept_ids],
    }


def _read_instances(annotation_file: Path, choose_images: Callable[[list[dict]], list[dict]] | None = None) -> dict:
    """The JSON of a COCO instances file, checked for the lists pycocotools indexes (`images`, `annotations`,
    `categories`), so a wrong file is reported by name rather than as a `KeyError` inside pycocotools.

    With `choose_images`, only the image entries it returns are kept, with their annotations; the others'
    annotations are not decoded when the file allows it (see `_read_chosen_instances`).
    """
    if not annotation_file.is_file():
        raise FileNotFoundError(f"COCO annotation file {str(annotation_file)!r} does not exist")
    try:
        text = annotation_file.read_text()
    except UnicodeDecodeError as error:
        raise ValueError(f"{annotation_file} is not valid JSON: {error}") from None
    if choose_images is not None:
        instances = _read_chosen_instances(text, choose_images)
        if instances is not None:
            return instances
    try:
        instances = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{annotation_file} is not valid JSON: {error}") from None
    if not isinstance(instances, dict):
        raise ValueError(f"{annotation_file} holds a JSON {type(instances).__name__}, expected a COCO instances object")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(instances.get(key), list)]
    if missing:
        raise ValueError(
            f"{annotation_file} has no {', '.join(repr(key) for key in missing)} list: expected a COCO instances "
            "file such as annotations/instances_val2017.json"
        )
    if choose_images is None:
        return instances
    images = choose_images(instances["images"])
    kept_ids = {image["id"] for image in images}
    annotations = [ann for ann in instances["annotations"] if ann["image_id"] in kept_ids]
    return {**instances, "images": images, "annotations": annotations}


# Where a top-level list starts, and an annotation's image id (every annotation has one: one match per annotation).
_LIST_KEY = r'"{}"\s*:\s*\['
_IMAGE_ID_KEY = re.compile(r'"image_id"\s*:\s*(-?\d+)\b')


def _read_chosen_instances(text: str, choose_images: Callable[[list[dict]], list[dict]]) -> dict | None:
    """The instances of the chosen images, decoding only their annotations.

    `images` and `categories` are decoded; each annotation is found by its `"image_id"` key, and only those of a
    chosen image are decoded (`json.JSONDecoder.raw_decode` from the `{` that opens them): the polygons of the other
    images, most of `instances_train2017.json`, never become Python objects. `None` when the text is not laid out so
    (a key missing, an image id that is not an integer, an annotation that does not decode), for a full parse.
    """
    decoder = json.JSONDecoder()
    starts = {}
    for key in ("images", "categories", "annotations"):
        match = re.search(_LIST_KEY.format(key), text)
        if match is None:
            return None
        starts[key] = match.end() - 1
    try:
        images = decoder.raw_decode(text, starts["images"])[0]
        categories = decoder.raw_decode(text, starts["categories"])[0]
    except json.JSONDecodeError:
        return None
    if not isinstance(images, list) or not isinstance(categories, list):
        return None
    if not all(isinstance(image, dict) and type(image.get("id")) is int for image in images):
        return None
    images = choose_images(images)
    wanted = {str(image["id"]) for image in images}
    annotations = []
    previous_end = starts["annotations"] + 1
    for match in _IMAGE_ID_KEY.finditer(text, starts["annotations"]):
        if match[1] in wanted:
            annotation = _object_around(decoder, text, previous_end, match.start(), int(match[1]))
            if annotation is None:
                return None
            annotations.append(annotation)
        previous_end = match.end()
    return {"images": images, "annotations": annotations, "categories": categories}


def _object_around(decoder: json.JSONDecoder, text: str, start: int, key: int, image_id: int) -> dict | None:
    """The annotation whose `"image_id"` key is at `key`: the first object opened after `start` that decodes to a
    dict with that image id and ends after the key."""
    position = text.find("{", start, key)
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            value, end = None, -1
        if isinstance(value, dict) and end > key and value.get("image_id") == image_id:
            return value
        position = text.find("{", position + 1, key)
    return None
