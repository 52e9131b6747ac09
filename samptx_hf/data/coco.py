"""COCO instance annotations turned into one semantic sample per (image, category present)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Collection, Sequence
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

    The file is parsed once; the images are chosen (`image_ids`, `image_list`, `fraction`) from its index before any
    annotation is rasterised or image read, so a 232-image list costs little more than the file's parsing even on
    `instances_train2017.json`.

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

    instances = _read_instances(Path(annotation_file))
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
    instances = _select_images(instances, wanted, image_ids, image_list, fraction, seed, Path(annotation_file).name)
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


def _select_images(
    instances: dict,
    categories: Collection[int],
    image_ids: Collection[str] | None,
    image_list: str | os.PathLike | Collection[str] | None,
    fraction: float,
    seed: int,
    where: str,
) -> dict:
    """`instances` cut down to the chosen images and their annotations: `image_ids`, then the listed ones, then a
    `fraction` of those with an annotation of `categories` (all of them when nothing is asked)."""
    if image_ids is None and image_list is None and fraction == 1.0:
        return instances
    images = instances["images"]
    if image_ids is not None:
        wanted_ids = {str(image_id) for image_id in image_ids}
        images = [image for image in images if str(image["id"]) in wanted_ids]
    if image_list is not None:
        kept = select_images(
            [Path(image["file_name"]).name for image in images], [""] * len(images), image_list, where=where
        )
        images = [images[index] for index in kept]
    if fraction != 1.0:
        annotated = {ann["image_id"] for ann in instances["annotations"] if ann["category_id"] in categories}
        images = [image for image in images if image["id"] in annotated]
        kept = select_images([""] * len(images), [str(image["id"]) for image in images], fraction=fraction, seed=seed)
        images = [images[index] for index in kept]
    kept_ids = {image["id"] for image in images}
    annotations = [ann for ann in instances["annotations"] if ann["image_id"] in kept_ids]
    return {**instances, "images": images, "annotations": annotations}


def _read_instances(annotation_file: Path) -> dict:
    """The JSON of a COCO instances file, checked for the lists pycocotools indexes (`images`, `annotations`,
    `categories`), so a wrong file is reported by name rather than as a `KeyError` inside pycocotools."""
    if not annotation_file.is_file():
        raise FileNotFoundError(f"COCO annotation file {str(annotation_file)!r} does not exist")
    try:
        instances = json.loads(annotation_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{annotation_file} is not valid JSON: {error}") from None
    if not isinstance(instances, dict):
        raise ValueError(f"{annotation_file} holds a JSON {type(instances).__name__}, expected a COCO instances object")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(instances.get(key), list)]
    if missing:
        raise ValueError(
            f"{annotation_file} has no {', '.join(repr(key) for key in missing)} list: expected a COCO instances "
            "file such as annotations/instances_val2017.json"
        )
    return instances
