"""The images to label: a folder (recursive), the image list of a COCO file, or a `datasets` dataset.

Each source lists its images in a fixed order, so that an image keeps its index (and its COCO id) from run to run
and from process to process; the pixels are read only when an image is labelled, one at a time, so a source of any
size costs the memory of its list. An image that cannot be read is reported by [`LabelledImageSource.load`] as an
error message, not raised: a run lists unreadable files and goes on.
"""

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from ..inference.segment import load_image

# The files that make a folder a `datasets` `save_to_disk` folder (a Dataset's, a DatasetDict's).
_SAVED_DATASET_FILES = ("dataset_info.json", "dataset_dict.json")


@dataclass(frozen=True)
class ImageEntry:
    """One image of a source.

    Args:
        index (`int`): Its position in the source; the order of the output.
        image_id (`int`): Its COCO id: the COCO file's, else `index + 1`.
        file_name (`str`): Its name in the output: the path relative to the folder (`/`-separated), the COCO
            file's `file_name`, or `"<index>"` (zero-padded) for a dataset row without a file name.
    """

    index: int
    image_id: int
    file_name: str


@dataclass
class LoadedImage:
    """An entry and its pixels, or why they could not be read (`image` is then `None`)."""

    entry: ImageEntry
    image: Image.Image | None
    error: str | None = None


class LabelledImageSource(Dataset):
    """The images of a folder, a COCO file or a dataset, as a map-style dataset of [`LoadedImage`] for a
    `DataLoader` (workers read and decode the images).

    Args:
        entries: The source's images, in order.
        reader: Reads the pixels of an entry (raises on an unreadable image).
        description: How messages name the source, e.g. `"folder 'photos'"`.
    """

    def __init__(self, entries: Sequence[ImageEntry], reader: Any, description: str):
        self.entries = list(entries)
        self.reader = reader
        self.description = description

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, position: int) -> LoadedImage:
        return self.load(self.entries[position])

    def load(self, entry: ImageEntry) -> LoadedImage:
        """The pixels of `entry` as an RGB image, or the one-line reason they could not be read."""
        try:
            return LoadedImage(entry, self.reader(entry))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            return LoadedImage(entry, None, " ".join(str(error).split()) or type(error).__name__)

    def subset(self, indices: Sequence[int]) -> "LabelledImageSource":
        """The same source restricted to the entries at `indices` (positions in `entries`)."""
        return LabelledImageSource([self.entries[index] for index in indices], self.reader, self.description)


def open_image_source(
    images: str | os.PathLike, image_column: str = "image", split: str | None = None, image_root: str | None = None
) -> LabelledImageSource:
    """The images named by `images`: a COCO `.json` file (its `images` list, read from `image_root`, by default the
    file's folder), a folder saved by `datasets` (`save_to_disk`), any other folder (every file under it,
    recursively, in sorted order; hidden files left out) or a Hub dataset id (`owner/name`, a path that does not
    exist here).

    Args:
        images: A folder, a COCO instances file, a `save_to_disk` folder or a Hub dataset id.
        image_column: The dataset column that holds the images (datasets only).
        split: The dataset split (datasets only): `train` by default; a `save_to_disk` folder of one split is that
            split, and `split`, when given, must name it.
        image_root: The folder the COCO file's `file_name`s are relative to (COCO only).

    Raises:
        FileNotFoundError: When `images` is neither a file, a folder nor a dataset id, or is a folder without files.
        ValueError: On a COCO file without an `images` list, a dataset without `image_column` or `split`, a
            `split` given for another split's `save_to_disk` folder, or for a folder of files or a COCO file.
    """
    path = Path(images)
    if image_root is not None and path.suffix.lower() != ".json":
        raise ValueError(f"--image-root is for a COCO file of images, but the images are {os.fspath(images)!r}")
    is_dataset_folder = path.is_dir() and any((path / name).is_file() for name in _SAVED_DATASET_FILES)
    if split is not None and (path.is_file() or (path.is_dir() and not is_dataset_folder)):
        raise ValueError(
            f"--split is for a dataset, but the images are {'the file' if path.is_file() else 'the folder'} "
            f"{os.fspath(images)!r} (every image of it is labelled): leave --split out"
        )
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise ValueError(f"images {os.fspath(images)!r} is a file, expected a folder, a COCO .json or a dataset")
        return _coco_source(path, Path(image_root) if image_root is not None else path.parent)
    if path.is_dir():
        if is_dataset_folder:
            return _dataset_source(os.fspath(path), image_column, split, from_disk=True)
        return _folder_source(path)
    if os.fspath(images).count("/") != 1 or os.path.isabs(images) or os.fspath(images).startswith("."):
        raise FileNotFoundError(
            f"images {os.fspath(images)!r} does not exist, expected a folder, a COCO file or a Hub dataset id "
            "(owner/name)"
        )
    return _dataset_source(os.fspath(images), image_column, split, from_disk=False)


def _folder_source(folder: Path) -> LabelledImageSource:
    files = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not files:
        raise FileNotFoundError(f"images folder {os.fspath(folder)!r} holds no file, expected images")
    entries = [ImageEntry(index, index + 1, name) for index, name in enumerate(files)]
    return LabelledImageSource(entries, _FileReader(folder), f"folder {os.fspath(folder)!r}")


def _coco_source(path: Path, root: Path) -> LabelledImageSource:
    try:
        with open(path, encoding="utf-8") as file:
            coco = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"{os.fspath(path)!r} is not a JSON file: {error}") from None
    listed = coco.get("images") if isinstance(coco, dict) else None
    if not isinstance(listed, list) or not all(isinstance(image, dict) for image in listed):
        raise ValueError(f"{os.fspath(path)!r} has no 'images' list, expected a COCO instances file")
    entries = []
    for index, image in enumerate(listed):
        if not isinstance(image.get("id"), int) or not isinstance(image.get("file_name"), str):
            raise ValueError(
                f"{os.fspath(path)!r}: images[{index}] is {image!r}, expected an integer 'id' and a 'file_name'"
            )
        entries.append(ImageEntry(index, image["id"], image["file_name"]))
    if not root.is_dir():
        raise FileNotFoundError(f"image root {os.fspath(root)!r} of {os.fspath(path)!r} is not a folder")
    return LabelledImageSource(entries, _FileReader(root), f"COCO file {os.fspath(path)!r}")


def _dataset_source(name: str, image_column: str, split: str | None, from_disk: bool) -> LabelledImageSource:
    import datasets

    if from_disk:
        dataset = datasets.load_from_disk(name)
        if isinstance(dataset, datasets.DatasetDict):
            if (split or "train") not in dataset:
                raise ValueError(f"dataset {name!r} has splits {sorted(dataset)}, not --split {split or 'train'!r}")
            dataset = dataset[split or "train"]
        elif split is not None and split != (str(dataset.split) if dataset.split is not None else None):
            saved = f"split {str(dataset.split)!r}" if dataset.split is not None else "a dataset without a split name"
            raise ValueError(
                f"dataset {name!r} is one split saved alone ({saved}), not --split {split!r}: leave --split out to "
                "label it, or give the folder of a DatasetDict that holds that split"
            )
    else:
        dataset = datasets.load_dataset(name, split=split or "train")
    if image_column not in dataset.column_names:
        raise ValueError(f"dataset {name!r} has columns {dataset.column_names}, not --image-column {image_column!r}")
    width = len(str(max(len(dataset) - 1, 0)))
    names = dataset["file_name"] if "file_name" in dataset.column_names else None
    entries = [
        ImageEntry(index, index + 1, str(names[index]) if names is not None else f"{index:0{width}d}")
        for index in range(len(dataset))
    ]
    return LabelledImageSource(entries, _DatasetReader(dataset, image_column), f"dataset {name!r}")


class _FileReader:
    """Reads `root / entry.file_name` (picklable, for `DataLoader` workers)."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, entry: ImageEntry) -> Image.Image:
        return load_image(self.root / entry.file_name)


class _DatasetReader:
    """Reads row `entry.index` of a dataset's image column."""

    def __init__(self, dataset: Any, image_column: str):
        self.dataset = dataset
        self.image_column = image_column

    def __call__(self, entry: ImageEntry) -> Image.Image:
        return load_image(self.dataset[entry.index][self.image_column])


__all__ = ["ImageEntry", "LabelledImageSource", "LoadedImage", "open_image_source"]
