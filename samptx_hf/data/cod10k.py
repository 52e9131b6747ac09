"""COD10K (camouflaged object detection) in its released layout.

<root>/Train/Image/COD10K-CAM-1-Aquatic-1-BatFish-1.jpg
<root>/Train/GT_Object/COD10K-CAM-1-Aquatic-1-BatFish-1.png
<root>/Test/Image/...  <root>/Test/GT_Object/...
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

import datasets

from .conversion import segmentation_features
from .subsets import select_images
from .validation import drop_invalid_samples

# COD10K-<CAM|NonCAM>-<super id>-<SuperClass>-<class id>-<ClassName>-<image number>
_COD10K_NAME = re.compile(r"^COD10K-(CAM|NonCAM)-(\d+)-([A-Za-z]+)-(\d+)-(.+)-(\d+)$")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SPLIT_DIRS = {"train": "Train", "test": "Test"}
# The class name of an object the file name does not name (COD10K's "Other", every CAMO image).
CAMOUFLAGED_OBJECT = "camouflaged object"


def _parse(filename: str) -> tuple[bool, str, str]:
    """Returns `(camouflaged, super_class, class_name)` of a COD10K file name."""
    stem = Path(filename).stem
    match = _COD10K_NAME.match(stem)
    if match is None:
        raise ValueError(
            f"file name {filename!r} does not follow the COD10K pattern "
            "'COD10K-<CAM|NonCAM>-<id>-<SuperClass>-<id>-<ClassName>-<number>.<ext>'"
        )
    kind, _, super_class, _, class_name, _ = match.groups()
    return kind == "CAM", super_class.lower(), class_words(class_name)


def class_words(name: str) -> str:
    """A class name as a file name writes it, in lower-case words: `"LeafySeaDragon"` -> `"leafy sea dragon"`
    (CamelCase, hyphens and underscores split words); COD10K's `"Other"` -> `"camouflaged object"`."""
    if name == "Other":
        return CAMOUFLAGED_OBJECT
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(re.sub(r"[-_]+", " ", words).lower().split())


def parse_cod10k_class(filename: str) -> str:
    """The class name in a COD10K file name, in lower-case words: `COD10K-CAM-1-Aquatic-1-BatFish-1.jpg` ->
    `"bat fish"`, `...-LeafySeaDragon-...` -> `"leafy sea dragon"`; the class `Other` -> `"camouflaged object"`.

    CamelCase, hyphens and underscores split the words (see [`class_words`]). Directories in `filename` are ignored.

    Raises:
        ValueError: if the name does not follow the COD10K pattern.
    """
    return _parse(filename)[2]


def load_cod10k(
    root: str | Path,
    split: str = "train",
    include_noncamouflaged: bool = False,
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Loads a COD10K split as one sample per image, its class from its file name (see [`parse_cod10k_class`]).

    The images are chosen (`image_list`, `fraction`) from the folder's listing before any of them is read.

    Args:
        root (`str` or `Path`):
            The folder that holds `Train/` and `Test/` (e.g. the extracted `COD10K-v3`).
        split (`str`, defaults to `"train"`):
            `"train"` or `"test"`.
        include_noncamouflaged (`bool`, defaults to `False`):
            Keep the `NonCAM` images (no camouflaged object; their masks are empty). When kept, empty masks
            are not dropped by validation.
        validate (`bool`, defaults to `True`):
            Decode every kept image and mask once and drop unusable samples (see `drop_invalid_samples`).
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the images this list names, by file name (see `read_image_list`).
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of the (listed) images (see `select_image_ids`).
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    Returns:
        `datasets.Dataset` with columns `image`, `mask` (`datasets.Image`), `class_name` (e.g. `"bat fish"`),
        `image_id` (the file stem), `super_class` (e.g. `"aquatic"`), `camouflaged` (bool) and `present_classes`
        (`[class_name]`: one class per image; `[]` for a `NonCAM` image, which has no object, so that its row is an
        absent sample for the collator), sorted by file name.

    Raises:
        ValueError: on an unknown split, a missing `Image/` folder, a file name outside the COD10K pattern, a
            listed image that is not in the split (or is a `NonCAM` image left out), or a split without any usable
            sample.
    """
    if split not in _SPLIT_DIRS:
        raise ValueError(f"split={split!r}, expected one of {sorted(_SPLIT_DIRS)}")
    split_dir = Path(root) / _SPLIT_DIRS[split]
    image_dir, mask_dir = split_dir / "Image", split_dir / "GT_Object"
    if not image_dir.is_dir():
        raise ValueError(f"{image_dir} is not a directory: expected COD10K's layout <root>/Train|Test/Image")

    features = segmentation_features(
        super_class=datasets.Value("string"),
        camouflaged=datasets.Value("bool"),
        present_classes=datasets.List(datasets.Value("string")),
    )
    columns: dict[str, list] = {name: [] for name in features}
    candidates = []
    for image_path in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
        camouflaged, super_class, class_name = _parse(image_path.name)
        if camouflaged or include_noncamouflaged:
            candidates.append((image_path, camouflaged, super_class, class_name))
    where = str(image_dir) if include_noncamouflaged else f"the camouflaged images of {image_dir}"
    names, stems = [path.name for path, *_ in candidates], [path.stem for path, *_ in candidates]
    kept = select_images(names, stems, image_list, fraction, seed, where=where)
    for image_path, camouflaged, super_class, class_name in (candidates[index] for index in kept):
        columns["image"].append(str(image_path))
        columns["mask"].append(str(mask_dir / f"{image_path.stem}.png"))
        columns["class_name"].append(class_name)
        columns["image_id"].append(image_path.stem)
        columns["super_class"].append(super_class)
        columns["camouflaged"].append(camouflaged)
        columns["present_classes"].append([class_name] if camouflaged else [])
    if not columns["image"]:
        raise ValueError(f"no COD10K image found in {image_dir} (include_noncamouflaged={include_noncamouflaged})")

    dataset = datasets.Dataset.from_dict(columns, features=features)
    if validate:
        dataset = drop_invalid_samples(dataset, allow_empty_masks=include_noncamouflaged)
    return dataset
