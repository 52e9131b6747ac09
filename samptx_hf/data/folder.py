"""Your own data: a folder of images and masks, or any `datasets` dataset (local or on the Hub)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Mapping, Sequence
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute as pc

from .conversion import SEGMENTATION_COLUMNS, encode_mask_png, segmentation_features, to_binary_mask
from .subsets import select_images
from .validation import drop_invalid_samples

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _class_name(value: object, classes_file: Path, key: str) -> str:
    """`value` as the class name of `key` in `classes_file`, refused unless it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{classes_file}: {key!r} has the class {value!r} ({type(value).__name__}), expected a class name as a "
            'non-empty string, e.g. {"0001": "sea horse"}'
        )
    return value.strip()


def _read_classes_file(classes_file: Path) -> dict[str, str]:
    """Reads a file-stem -> class-name mapping from a JSON object or a CSV with `image,class_name` columns."""
    if not classes_file.is_file():
        raise FileNotFoundError(f"classes file {str(classes_file)!r} does not exist")
    if classes_file.suffix.lower() == ".json":
        try:
            mapping = json.loads(classes_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"classes file {classes_file} is not valid JSON: {error}") from None
        if not isinstance(mapping, dict):
            raise ValueError(f"{classes_file} holds a {type(mapping).__name__}, expected a JSON object stem -> class")
        return {Path(key).stem: _class_name(value, classes_file, key) for key, value in mapping.items()}
    if classes_file.suffix.lower() == ".csv":
        with classes_file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"image", "class_name"} <= set(reader.fieldnames):
                raise ValueError(
                    f"{classes_file} has columns {reader.fieldnames}, expected a header with 'image' and 'class_name'"
                )
            return {
                Path(row["image"]).stem: _class_name(row["class_name"], classes_file, row["image"]) for row in reader
            }
    raise ValueError(f"classes_file={str(classes_file)!r} has suffix {classes_file.suffix!r}, expected .json or .csv")


def _mask_for(image_path: Path, mask_dir: Path) -> str:
    """The mask of an image: `<mask_dir>/<stem>.png`, else any file of `mask_dir` with the same stem."""
    png = mask_dir / f"{image_path.stem}.png"
    if png.is_file():
        return str(png)
    others = sorted(mask_dir.glob(f"{image_path.stem}.*"))
    return str(others[0]) if others else str(png)  # a missing mask is reported by validation


def _require_mask_dir(mask_dir: Path, layout: str) -> None:
    if not mask_dir.is_dir():
        raise ValueError(f"{mask_dir} is not a folder: expected the layout {layout}, masks named like their images")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)


def _classes_per_image(image_keys: Sequence[Hashable], class_names: Sequence[str]) -> list[list[str]]:
    """For each row, the classes of every row with the same image key, in order of first appearance."""
    classes: dict[Hashable, dict[str, None]] = defaultdict(dict)
    for key, class_name in zip(image_keys, class_names, strict=True):
        classes[key][class_name] = None
    return [list(classes[key]) for key in image_keys]


def _image_file_keys(image_paths: Sequence[str]) -> list[tuple[str, str]]:
    """A key per image file, equal for the same image in two class folders: its stem and, where several files share
    that stem, a digest of its bytes (class folders often number their images alike: 001.jpg, 002.jpg, ...)."""
    stem_counts = Counter(Path(path).stem for path in image_paths)
    keys = []
    for path in image_paths:
        stem = Path(path).stem
        if stem_counts[stem] > 1 and Path(path).is_file():
            keys.append((stem, hashlib.sha256(Path(path).read_bytes()).hexdigest()))
        else:
            keys.append((stem, path))
    return keys


def load_image_folder(
    root: str | Path,
    classes_file: str | Path | None = None,
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Loads a folder of images and masks (mask = same file stem; read by the mask rule of `to_binary_mask`).

    Two layouts are read:

    - without `classes_file`, the class is the folder name (underscores become spaces)::

          root/<class>/images/<name>.jpg      root/<class>/masks/<name>.png

    - with `classes_file` (a JSON object `{"<stem>": "<class>"}` or a CSV with an `image,class_name` header;
      `image` may be a file name or a stem)::

          root/images/<name>.jpg              root/masks/<name>.png

    Args:
        root (`str` or `Path`):
            The dataset folder.
        classes_file (`str` or `Path`, *optional*):
            The stem -> class mapping; relative paths are resolved against `root`.
        validate (`bool`, defaults to `True`):
            Decode every kept image and mask once and drop unusable samples (see `drop_invalid_samples`).
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the images this list names, by file name (in every class folder that has the file; see
            `read_image_list`).
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of the (listed) images, drawn over `image_id` (see `select_image_ids`).
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    The images are chosen from the folders' listings before any of them is read.

    Returns:
        `datasets.Dataset` with columns `image`, `mask` (`datasets.Image`), `class_name`, `image_id`
        (`"<class folder>/<stem>"` or `"<stem>"`) and `present_classes`: the classes of the image, that is of every
        class folder holding the same file (same stem, same bytes); one class with `classes_file`.

    Raises:
        ValueError: on a layout that matches neither form, an image missing from `classes_file`, a class in it that
            is not a non-empty string (the message names the file, the key and the value), a listed image that is
            not in the folder, or no usable sample.
    """
    root = Path(root)
    features = segmentation_features(present_classes=datasets.List(datasets.Value("string")))
    # (image file, mask folder, class name, image id) of every sample of the folder, before anything is read
    entries: list[tuple[Path, Path, str, str]] = []

    def add(image_path: Path, mask_dir: Path, class_name: str, image_id: str) -> None:
        entries.append((image_path, mask_dir, class_name, image_id))

    if classes_file is not None:
        classes_path = Path(classes_file) if Path(classes_file).is_absolute() else root / classes_file
        classes = _read_classes_file(classes_path)
        image_dir = root / "images"
        if not image_dir.is_dir():
            raise ValueError(f"{image_dir} is not a directory: with classes_file, expected root/images + root/masks")
        image_paths = _images_in(image_dir)
        missing = [p.name for p in image_paths if p.stem not in classes]
        if missing:
            raise ValueError(f"{len(missing)} images have no class in {classes_path}, e.g. {missing[:3]}")
        _require_mask_dir(root / "masks", "root/images + root/masks")
        for image_path in image_paths:
            add(image_path, root / "masks", classes[image_path.stem], image_path.stem)
    else:
        class_dirs = sorted(p for p in root.iterdir() if (p / "images").is_dir()) if root.is_dir() else []
        if not class_dirs:
            raise ValueError(
                f"{root} has no <class>/images folder: expected root/<class>/images + root/<class>/masks, "
                "or pass classes_file for root/images + root/masks"
            )
        for class_dir in class_dirs:
            _require_mask_dir(class_dir / "masks", "root/<class>/images + root/<class>/masks")
            class_name = class_dir.name.replace("_", " ")
            for image_path in _images_in(class_dir / "images"):
                add(image_path, class_dir / "masks", class_name, f"{class_dir.name}/{image_path.stem}")
    if not entries:
        raise ValueError(f"no image found under {root}")
    names, image_ids = [path.name for path, *_ in entries], [image_id for *_, image_id in entries]
    kept = select_images(names, image_ids, image_list, fraction, seed, where=str(root))
    # The classes of an image are those of every class folder with the same file: look at the files of kept stems.
    kept_stems = {entries[index][0].stem for index in kept}
    related = [index for index, entry in enumerate(entries) if entry[0].stem in kept_stems]
    related_classes = _classes_per_image(
        _image_file_keys([str(entries[index][0]) for index in related]), [entries[index][2] for index in related]
    )
    present_classes = dict(zip(related, related_classes, strict=True))
    columns: dict[str, list] = {name: [] for name in features}
    for index in kept:
        image_path, mask_dir, class_name, image_id = entries[index]
        columns["image"].append(str(image_path))
        columns["mask"].append(_mask_for(image_path, mask_dir))
        columns["class_name"].append(class_name)
        columns["image_id"].append(image_id)
        columns["present_classes"].append(present_classes[index])

    dataset = datasets.Dataset.from_dict(columns, features=features)
    if validate:
        dataset = drop_invalid_samples(dataset)
    return dataset


def from_hf_dataset(
    dataset_or_path: datasets.Dataset | datasets.DatasetDict | str | Path,
    split: str = "train",
    column_mapping: Mapping[str, str] | None = None,
    class_name: str | None = None,
    validate: bool = True,
    *,
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> datasets.Dataset:
    """Adapts any `datasets` dataset with an image and a binary mask per row to the loaders' columns.

    Args:
        dataset_or_path (`datasets.Dataset`, `datasets.DatasetDict`, `str` or `Path`):
            A dataset object; a folder written by `save_to_disk` (read with `load_from_disk`); or anything
            `datasets.load_dataset` accepts — a local data folder or a Hub id such as `"user/my-camo-set"`.
        split (`str`, defaults to `"train"`):
            The split to take when the source has several.
        column_mapping (`Mapping[str, str]`, *optional*):
            Renames source columns to ours, e.g. `{"img": "image", "label": "mask", "category":
            "class_name"}`. A `datasets.ClassLabel` class column is turned into its names.
        class_name (`str`, *optional*):
            A class name for every row, for sources without a class column (e.g. single-class sets).
        validate (`bool`, defaults to `True`):
            Decode every kept image and mask once and drop unusable samples (see `drop_invalid_samples`).
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            Keep only the rows of the images this list names (see `read_image_list`), matched by the file name of
            the row's image path, or by its `image_id` where the image has no path (bytes only).
        fraction (`float`, defaults to 1.0):
            Keep a seeded share of the (listed) images, drawn over `image_id` (see `select_image_ids`).
        seed (`int`, defaults to 0):
            Seed of the `fraction` draw.

    The rows are chosen before any image is decoded.

    Returns:
        `datasets.Dataset` with at least `image`, `mask` (cast to `datasets.Image`), `class_name`, `image_id` (the
        source's `image_id` column as strings, else the row index) and `present_classes` (the classes of the rows
        of the same `image_id`; the row's own class without an `image_id` column). Where one image has several
        rows of one class (one instance per row), a `class_mask` column holds their union, the target without a
        point (`None` on the other rows). Other source columns, `present_classes` and `class_mask` of the source
        included, are kept.

    Raises:
        ValueError: if the split is missing, a mapped column is missing, or `image`, `mask` or `class_name` is
            absent after mapping (and `class_name` not given), or rows of one `image_id` have masks of different
            sizes.
    """
    source = dataset_or_path
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()):
            source = datasets.load_from_disk(str(path))
        else:
            source = datasets.load_dataset(str(source), split=split)
    if isinstance(source, datasets.DatasetDict):
        if split not in source:
            raise ValueError(f"split={split!r} is not in the dataset; available splits: {sorted(source)}")
        source = source[split]
    if not isinstance(source, datasets.Dataset):
        raise ValueError(f"got a {type(source).__name__}, expected a datasets.Dataset, DatasetDict, folder or Hub id")

    if column_mapping:
        missing = sorted(set(column_mapping) - set(source.column_names))
        if missing:
            raise ValueError(f"column_mapping names {missing}, not columns of the dataset {source.column_names}")
        source = source.rename_columns(dict(column_mapping))
    if class_name is not None:
        if "class_name" in source.column_names:
            raise ValueError("class_name was given but the dataset already has a 'class_name' column")
        source = source.add_column("class_name", [class_name] * len(source))
    if isinstance(source.features.get("class_name"), datasets.ClassLabel):
        names = source.features["class_name"].int2str(list(source["class_name"]))
        source = source.remove_columns("class_name").add_column("class_name", names)
    required = [column for column in SEGMENTATION_COLUMNS if column != "image_id"]
    absent = [column for column in required if column not in source.column_names]
    if absent:
        raise ValueError(
            f"columns {absent} are missing (dataset columns: {source.column_names}); map them with "
            "column_mapping={'<source column>': '<ours>'} or pass class_name"
        )
    grouped_by_image = "image_id" in source.column_names
    if grouped_by_image:
        source = source.cast_column("image_id", datasets.Value("string"))
    else:
        source = source.add_column("image_id", [str(i) for i in range(len(source))])
    for column in ("image", "mask"):
        if not isinstance(source.features[column], datasets.Image):
            source = source.cast_column(column, datasets.Image())
    if image_list is not None or fraction != 1.0:
        image_ids = list(source["image_id"])
        paths = pc.struct_field(source.with_format("arrow")["image"], "path").to_pylist()
        names = [Path(path).name if path else image_id for path, image_id in zip(paths, image_ids, strict=True)]
        source = source.select(select_images(names, image_ids, image_list, fraction, seed, where=f"split {split!r}"))
    if validate:
        source = drop_invalid_samples(source)
    return _with_classes_per_image(source, grouped_by_image)


def _with_classes_per_image(dataset: datasets.Dataset, grouped_by_image: bool) -> datasets.Dataset:
    """Adds `present_classes` (grouping rows by `image_id` when `grouped_by_image`, else one image per row) and,
    where an image has several rows of one class, `class_mask` (their union); columns the dataset has are kept."""
    class_names = list(dataset["class_name"])
    image_keys = list(dataset["image_id"]) if grouped_by_image else list(range(len(dataset)))
    if "present_classes" not in dataset.column_names:
        dataset = dataset.add_column(
            "present_classes",
            _classes_per_image(image_keys, class_names),
            feature=datasets.List(datasets.Value("string")),
        )
    if not grouped_by_image or "class_mask" in dataset.column_names:
        return dataset
    rows_of: dict[tuple, list[int]] = defaultdict(list)
    for index, key in enumerate(zip(image_keys, class_names, strict=True)):
        rows_of[key].append(index)
    repeated = {key: indices for key, indices in rows_of.items() if len(indices) > 1}
    if not repeated:
        return dataset
    class_masks: list[dict | None] = [None] * len(dataset)
    for (image_id, class_name), indices in repeated.items():
        masks = [to_binary_mask(mask) for mask in dataset.select(indices)["mask"]]
        sizes = sorted({mask.shape for mask in masks})
        if len(sizes) > 1:
            raise ValueError(
                f"the {len(indices)} rows of image_id {image_id!r} and class {class_name!r} have masks of sizes "
                f"{sizes}, expected one image per image_id"
            )
        union = encode_mask_png(np.logical_or.reduce(masks))
        for index in indices:
            class_masks[index] = union
    return dataset.add_column("class_mask", class_masks, feature=datasets.Image())
