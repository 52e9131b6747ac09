"""ADE20K SceneParsing (ADEChallengeData2016, 150 classes) as one sample per (image, class present)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from .conversion import encode_mask_png, segmentation_features
from .subsets import select_images
from .validation import drop_invalid_samples

# The SceneParsing150 class names (objectInfo150.txt, first name of each row); pixel value k is class k - 1
# here.
ADE20K_CLASS_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
    "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column",
    "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator",
    "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip

_SPLITS = ("training", "validation")


def _find_root(root: Path) -> Path:
    for candidate in (root, root / "ADEChallengeData2016"):
        if (candidate / "images").is_dir() and (candidate / "annotations").is_dir():
            return candidate
    raise ValueError(
        f"{root} does not hold ADEChallengeData2016/images and ADEChallengeData2016/annotations "
        "(pass the ADEChallengeData2016 folder or its parent)"
    )


def load_ade20k(
    root: str | Path,
    split: str = "training",
    image_ids: Collection[str] | None = None,
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Loads ADE20K SceneParsing as one sample per (image, class present in it).

    Annotation pixel value `k` in 1..150 is class `ADE20K_CLASS_NAMES[k - 1]`; 0 ("other") is never a target.
    The target of a sample is `annotation == k`. Masks are stored as in-memory PNGs; images stay as paths.

    Args:
        root (`str` or `Path`):
            The `ADEChallengeData2016` folder, or its parent.
        split (`str`, defaults to `"training"`):
            `"training"` or `"validation"`.
        image_ids (`Collection[str]`, *optional*):
            Keep only these images (file stems such as `"ADE_train_00000001"`); use it to rasterise only a
            low-data subset, e.g. with ids from `select_image_ids`.
        validate (`bool`, defaults to `True`):
            Decode every kept image once and drop unusable samples (see `drop_invalid_samples`). Images whose
            annotation is missing or unreadable are skipped with their own warning.
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the images this low-data list names, by file name (see `read_image_list`), e.g. UniMatch-V2's
            `splits/ade20k/1_64/labeled.txt`.
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of the (listed) images (see `select_image_ids`).
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    The images are chosen from the folder's listing before any annotation or image is read, so the cost grows with
    the images kept, not with the split.

    Returns:
        `datasets.Dataset` with columns `image`, `mask` (`datasets.Image`, 0/255 "L"), `class_name`,
        `image_id` (file stem), `label_id` (the pixel value k) and `present_classes` (every class of the image),
        ordered by image then class. The `mask` is already every pixel of the class, the target without a point too.

    Raises:
        ValueError: on an unknown split, a wrong layout, a listed image that is not in the split, a pixel value above
            150, or no sample found.
    """
    if split not in _SPLITS:
        raise ValueError(f"split={split!r}, expected one of {_SPLITS}")
    root = _find_root(Path(root))
    image_dir, annotation_dir = root / "images" / split, root / "annotations" / split
    image_paths = sorted(image_dir.glob("*.jpg"))
    if image_ids is not None:
        wanted = set(image_ids)
        image_paths = [path for path in image_paths if path.stem in wanted]
    kept = select_images(
        [path.name for path in image_paths],
        [path.stem for path in image_paths],
        image_list,
        fraction,
        seed,
        where=f"{image_dir}",
    )

    features = segmentation_features(
        label_id=datasets.Value("int64"), present_classes=datasets.List(datasets.Value("string"))
    )
    columns: dict[str, list] = {name: [] for name in features}
    unreadable: list[str] = []
    for image_path in (image_paths[index] for index in kept):
        annotation_path = annotation_dir / f"{image_path.stem}.png"
        try:
            with Image.open(annotation_path) as annotation_image:
                annotation = np.asarray(annotation_image)
        except Exception:  # missing or corrupt: the image has no known class, hence no sample
            unreadable.append(annotation_path.name)
            continue
        if annotation.ndim != 2:
            raise ValueError(f"{annotation_path} has shape {annotation.shape}, expected a single-channel label map")
        label_ids = [int(k) for k in np.unique(annotation) if k != 0]
        if label_ids and label_ids[-1] > len(ADE20K_CLASS_NAMES):
            raise ValueError(f"{annotation_path} has pixel value {label_ids[-1]}, expected 0..150")
        present_classes = [ADE20K_CLASS_NAMES[label_id - 1] for label_id in label_ids]
        for label_id in label_ids:
            columns["image"].append(str(image_path))
            columns["mask"].append(encode_mask_png(annotation == label_id))
            columns["class_name"].append(ADE20K_CLASS_NAMES[label_id - 1])
            columns["image_id"].append(image_path.stem)
            columns["label_id"].append(label_id)
            columns["present_classes"].append(present_classes)
    if unreadable:
        warnings.warn(
            f"skipped {len(unreadable)} images whose annotation is missing or unreadable "
            f"in {annotation_dir}, "
            f"e.g. {unreadable[:3]}",
            UserWarning,
            stacklevel=2,
        )
    if not columns["image"]:
        raise ValueError(f"no annotated image found in {image_dir} / {annotation_dir}")

    dataset = datasets.Dataset.from_dict(columns, features=features)
    if validate:
        dataset = drop_invalid_samples(dataset)
    return dataset
