"""CAMO and CHAMELEON in their released layouts, and the camouflage protocol's sets: train on COD10K + CAMO, test on
COD10K, CAMO and CHAMELEON.

CAMO (`CAMO-V.1.0-CVIU2019`)::

    <root>/Images/Train/camourflage_00001.jpg   <root>/Images/Test/camourflage_00003.jpg
    <root>/GT/camourflage_00001.png             <root>/GT/camourflage_00003.png

CHAMELEON (76 images, a test set)::

    <root>/Imgs/animal-1.jpg (or <root>/Image/)   <root>/GT/animal-1.png
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import datasets

from .cod10k import CAMOUFLAGED_OBJECT, load_cod10k
from .conversion import segmentation_features
from .folder import _images_in, _mask_for
from .subsets import read_image_list, select_images
from .validation import drop_invalid_samples

# The class names of the sets whose file names name no class (the follow-up paper's).
CAMO_CLASS_NAME = CAMOUFLAGED_OBJECT
CHAMELEON_CLASS_NAME = "camouflaged animal"
# The sets of the camouflage protocol, by split, in the order their rows come.
CAMOUFLAGE_SOURCES = {"train": ("cod10k", "camo"), "test": ("cod10k", "camo", "chameleon")}
_CAMO_SPLITS = {"train": "Train", "test": "Test"}
_CHAMELEON_IMAGE_DIRS = ("Imgs", "Image", "Images")


def _one_class_split(
    image_dir: Path,
    mask_dir: Path,
    class_name: str,
    image_list: str | os.PathLike | Collection[str] | None,
    fraction: float,
    seed: int,
    validate: bool,
) -> datasets.Dataset:
    """One sample per image of `image_dir`, its mask the same stem in `mask_dir`, every one of class `class_name`."""
    image_paths = _images_in(image_dir)
    if not image_paths:
        raise ValueError(f"no image found in {image_dir}")
    names, stems = [path.name for path in image_paths], [path.stem for path in image_paths]
    kept = select_images(names, stems, image_list, fraction, seed, where=str(image_dir))
    image_paths = [image_paths[index] for index in kept]
    columns = {
        "image": [str(path) for path in image_paths],
        "mask": [_mask_for(path, mask_dir) for path in image_paths],
        "class_name": [class_name] * len(image_paths),
        "image_id": [path.stem for path in image_paths],
        "present_classes": [[class_name]] * len(image_paths),
    }
    features = segmentation_features(present_classes=datasets.List(datasets.Value("string")))
    dataset = datasets.Dataset.from_dict(columns, features=features)
    return drop_invalid_samples(dataset) if validate else dataset


def _camo_root(root: Path) -> Path | None:
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())) if root.is_dir() else ():
        if (candidate / "Images").is_dir() and (candidate / "GT").is_dir():
            return candidate
    return None


def _chameleon_dirs(root: Path) -> tuple[Path, Path] | None:
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())) if root.is_dir() else ():
        for name in _CHAMELEON_IMAGE_DIRS:
            if (
                (candidate / name).is_dir()
                and (candidate / "GT").is_dir()
                and not (candidate / name / "Train").is_dir()
            ):
                return candidate / name, candidate / "GT"
    return None


def load_camo(
    root: str | Path,
    split: str = "train",
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Loads a CAMO split (1,000 training and 250 test images) as one sample per image, of the class
    `"camouflaged object"` (CAMO's file names name no class).

    Args:
        root (`str` or `Path`):
            The released `CAMO-V.1.0-CVIU2019` folder (`Images/Train`, `Images/Test`, `GT/`), or its parent.
        split (`str`, defaults to `"train"`):
            `"train"` or `"test"`.
        validate (`bool`, defaults to `True`):
            Decode every kept image and mask once and drop unusable samples (see `drop_invalid_samples`).
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the images this list names, by file name (see `read_image_list`).
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of the (listed) images (see `select_image_ids`).
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    Returns:
        `datasets.Dataset` with columns `image`, `mask`, `class_name`, `image_id` (the file stem) and
        `present_classes`, sorted by file name.

    Raises:
        ValueError: on an unknown split, a folder without CAMO's layout, a listed image that is not in the split, or
            no usable sample.
    """
    if split not in _CAMO_SPLITS:
        raise ValueError(f"split={split!r}, expected one of {sorted(_CAMO_SPLITS)}")
    camo_root = _camo_root(Path(root))
    if camo_root is None:
        raise ValueError(f"{root} does not hold CAMO's layout Images/Train, Images/Test and GT/ (CAMO-V.1.0-CVIU2019)")
    image_dir = camo_root / "Images" / _CAMO_SPLITS[split]
    if not image_dir.is_dir():
        raise ValueError(f"{image_dir} is not a directory: expected CAMO's layout Images/Train, Images/Test and GT/")
    return _one_class_split(image_dir, camo_root / "GT", CAMO_CLASS_NAME, image_list, fraction, seed, validate)


def load_chameleon(
    root: str | Path,
    split: str = "test",
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Loads CHAMELEON (76 images, a test set only) as one sample per image, of the class `"camouflaged animal"`.

    Args:
        root (`str` or `Path`):
            The `CHAMELEON` folder (`Imgs/` or `Image/`, and `GT/`), or its parent.
        split (`str`, defaults to `"test"`):
            `"test"`, the only split.
        validate, image_list, fraction, seed: As for [`load_camo`].

    Returns:
        `datasets.Dataset` with columns `image`, `mask`, `class_name`, `image_id` (the file stem) and
        `present_classes`, sorted by file name.

    Raises:
        ValueError: on a split other than `"test"`, a folder without the layout, a listed image that is not in the
            set, or no usable sample.
    """
    if split != "test":
        raise ValueError(f"split={split!r}: CHAMELEON has only a test split, expected 'test'")
    dirs = _chameleon_dirs(Path(root))
    if dirs is None:
        raise ValueError(f"{root} does not hold CHAMELEON's layout Imgs/ (or Image/) and GT/")
    return _one_class_split(*dirs, CHAMELEON_CLASS_NAME, image_list, fraction, seed, validate)


def _find_set(root: Path, name: str) -> Path:
    """The folder of the set `name` in `root`: `root` itself or the child folder with the set's layout."""
    candidates = (root, *sorted(p for p in root.iterdir() if p.is_dir()))
    for candidate in candidates:
        if name == "cod10k" and (candidate / "Train" / "Image").is_dir() and (candidate / "Test" / "Image").is_dir():
            return candidate
        if name == "camo" and _camo_root(candidate) == candidate:
            return candidate
        if name == "chameleon" and (dirs := _chameleon_dirs(candidate)) is not None and dirs[0].parent == candidate:
            return candidate
    layouts = {
        "cod10k": "COD10K-v3 with Train/Image and Test/Image",
        "camo": "CAMO-V.1.0-CVIU2019 with Images/ and GT/",
        "chameleon": "CHAMELEON with Imgs/ and GT/",
    }
    raise ValueError(f"{root} has no folder of {name} (expected a sub-folder such as {layouts[name]})")


def load_camouflage(
    root: str | Path,
    split: str = "train",
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """The camouflage protocol's sets: `"train"` is COD10K's and CAMO's training images (4,040), `"test"` COD10K's,
    CAMO's and CHAMELEON's test images (2,026 + 250 + 76), each row with its `source`.

    Args:
        root (`str` or `Path`):
            A folder holding the three released folders (found by their layouts, whatever their names), e.g.
            `COD10K-v3/`, `CAMO-V.1.0-CVIU2019/` and `CHAMELEON/`.
        split (`str`, defaults to `"train"`):
            `"train"` or `"test"`.
        validate (`bool`, defaults to `True`):
            Decode every kept image and mask once and drop unusable samples.
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the images this list names, by file name, in whichever set holds them.
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of each set's (listed) images.
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    Returns:
        `datasets.Dataset` with columns `image`, `mask`, `class_name` (COD10K's from its file names, `"camouflaged
        object"` for CAMO, `"camouflaged animal"` for CHAMELEON), `image_id`, `present_classes` and `source`
        (`"cod10k"`, `"camo"` or `"chameleon"`), the sets one after the other.

    Raises:
        ValueError: on an unknown split, a set missing from `root`, a listed image that is in none of the sets, or
            a set without any usable sample.
    """
    if split not in CAMOUFLAGE_SOURCES:
        raise ValueError(f"split={split!r}, expected one of {sorted(CAMOUFLAGE_SOURCES)}")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder: expected one holding COD10K-v3, CAMO and CHAMELEON")
    sources = CAMOUFLAGE_SOURCES[split]
    folders = {name: _find_set(root, name) for name in sources}
    names = None
    if image_list is not None:
        names = set(read_image_list(image_list) if isinstance(image_list, (str, os.PathLike)) else image_list)
        in_sets = set().union(*(_file_names(name, folders[name], split) for name in sources))
        missing = sorted(names - in_sets)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ValueError(f"the listed image {missing[0]!r} is in none of {', '.join(sources)} {split}{more}")
    loaders = {"cod10k": load_cod10k, "camo": load_camo, "chameleon": load_chameleon}
    parts = []
    for name in sources:
        listed = None if names is None else sorted(names & _file_names(name, folders[name], split))
        if listed == []:
            continue
        part = loaders[name](folders[name], split, validate=validate, image_list=listed, fraction=fraction, seed=seed)
        part = part.select_columns(["image", "mask", "class_name", "image_id", "present_classes"])
        parts.append(part.add_column("source", [name] * len(part)))
    return datasets.concatenate_datasets(parts)


def _file_names(name: str, folder: Path, split: str) -> set[str]:
    """The image file names of one set's split, from its listing."""
    if name == "cod10k":
        image_dir = folder / ("Train" if split == "train" else "Test") / "Image"
    elif name == "camo":
        image_dir = folder / "Images" / _CAMO_SPLITS[split]
    else:
        image_dir = _chameleon_dirs(folder)[0]
    return {path.name for path in _images_in(image_dir)}
