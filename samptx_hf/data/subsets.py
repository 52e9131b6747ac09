"""Low-data subsets (COCO 1/512, ADE20K 1/64, ...) drawn over images, not over samples."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path, PurePosixPath

import datasets
import numpy as np


def select_image_ids(image_ids: Iterable[str], fraction: float, seed: int = 0) -> list[str]:
    """Draws `round(fraction * num_images)` (at least one) distinct image ids, reproducibly.

    The ids are de-duplicated and sorted before drawing, so the result depends only on the set of ids,
    `fraction` and `seed` — not on row order. For one seed, subsets are nested: the 1/512 subset is inside the
    1/64 one.

    Args:
        image_ids (`Iterable[str]`):
            Image identifiers; repeats are allowed (one per sample).
        fraction (`float`):
            Share of the images to keep, in (0, 1], e.g. `1 / 512`.
        seed (`int`, defaults to 0):
            Seed of the draw.

    Returns:
        `list[str]`: the chosen ids, sorted.

    Raises:
        ValueError: if `fraction` is not in (0, 1] or there is no id.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}, expected a value in (0, 1], e.g. 1/512")
    unique_ids = sorted({str(image_id) for image_id in image_ids})
    if not unique_ids:
        raise ValueError("no image id to draw a subset from")
    num_kept = max(1, round(fraction * len(unique_ids)))
    order = np.random.default_rng(seed).permutation(len(unique_ids))
    return sorted(unique_ids[i] for i in order[:num_kept])


def low_data_subset(
    dataset: datasets.Dataset, fraction: float, seed: int = 0, image_column: str = "image_id"
) -> datasets.Dataset:
    """Keeps a random `fraction` of the IMAGES of `dataset`, with all the (image, class) samples of each.

    This is the paper's "COCO 1/512" / "ADE20K 1/64" setting: `round(fraction * num_images)` images (at least
    one) drawn with `select_image_ids`, so a given seed always gives the same images and smaller fractions
    give nested subsets. Rows keep their original order.

    Args:
        dataset (`datasets.Dataset`):
            A dataset from one of the loaders (they all add an `image_id` column).
        fraction (`float`):
            Share of the images to keep, in (0, 1].
        seed (`int`, defaults to 0):
            Seed of the draw.
        image_column (`str`, defaults to `"image_id"`):
            The column that identifies the image of a sample.

    Returns:
        `datasets.Dataset`: the samples of the chosen images.

    Raises:
        ValueError: if `fraction` is not in (0, 1] or `image_column` is missing.
    """
    if image_column not in dataset.column_names:
        raise ValueError(
            f"image_column={image_column!r} is not a column of the dataset (columns: {dataset.column_names})"
        )
    sample_image_ids = [str(image_id) for image_id in dataset[image_column]]
    chosen = set(select_image_ids(sample_image_ids, fraction, seed))
    return dataset.select([i for i, image_id in enumerate(sample_image_ids) if image_id in chosen])


def read_image_list(image_list: str | os.PathLike) -> list[str]:
    """The image file names a low-data list names, in its order, each once.

    The format is that of the semi-supervised segmentation lists (UniMatch's `splits/coco/1_512/labeled.txt`,
    UniMatch-V2's `splits/ade20k/1_64/labeled.txt`): one image a line, its path first (`train2017/000000177254.jpg
    masks/000000177254.png`); the rest of the line is ignored, and so are blank lines. An image is named by its file
    name: the folders of the path are dropped (`000000177254.jpg`).

    Raises:
        FileNotFoundError: if `image_list` is not a file.
        ValueError: if it names no image.
    """
    path = Path(image_list)
    if not path.is_file():
        raise FileNotFoundError(f"image list {os.fspath(image_list)!r} does not exist")
    names = [
        PurePosixPath(line.split()[0].replace("\\", "/")).name for line in path.read_text().splitlines() if line.strip()
    ]
    if not names:
        raise ValueError(f"image list {os.fspath(image_list)!r} names no image (expected one image path a line)")
    return list(dict.fromkeys(names))


def select_images(
    file_names: Sequence[str],
    image_ids: Sequence[str],
    image_list: str | os.PathLike | Collection[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    where: str = "the split",
) -> list[int]:
    """Indices of the images a loader reads: those `image_list` names (matched by file name), then, with
    `fraction < 1`, a seeded share of them drawn over their ids with [`select_image_ids`].

    Loaders call it on what a listing or an index tells them (file names and ids), before they read, rasterise or
    validate anything, so that their cost grows with the images kept, not with the split.

    Args:
        file_names (`Sequence[str]`):
            The file name of each candidate image (an image may appear several times, e.g. in several class folders).
        image_ids (`Sequence[str]`):
            The id of each candidate, as the loader's `image_id` column gives it; `fraction` draws over these.
        image_list (`str`, `os.PathLike` or `Collection[str]`, *optional*):
            A list file (see [`read_image_list`]) or the file names themselves. Every name must be a candidate.
        fraction (`float`, defaults to 1.0):
            Share of the (listed) images to keep, in (0, 1].
        seed (`int`, defaults to 0):
            Seed of the draw.
        where (`str`, defaults to `"the split"`):
            What the candidates are, for the error message (e.g. `"ADEChallengeData2016/images/training"`).

    Returns:
        `list[int]`: the kept candidates' indices, in order.

    Raises:
        ValueError: if a listed image is not a candidate (the message names it, and how many more), or `fraction`
            is not in (0, 1].
    """
    if not 0 < fraction <= 1:  # NaN fails too
        raise ValueError(f"fraction={fraction}, expected a value in (0, 1], e.g. 1/512")
    kept = list(range(len(file_names)))
    if image_list is not None:
        names = read_image_list(image_list) if isinstance(image_list, (str, os.PathLike)) else list(image_list)
        wanted = set(names)
        kept = [index for index in kept if file_names[index] in wanted]
        found = {file_names[index] for index in kept}
        missing = [name for name in names if name not in found]
        if missing:
            source = f" of {os.fspath(image_list)}" if isinstance(image_list, (str, os.PathLike)) else ""
            more = f" (and {len(missing) - 1} more of the {len(names)} listed)" if len(missing) > 1 else ""
            raise ValueError(f"the listed image {missing[0]!r}{source} is not in {where}{more}")
    if fraction != 1.0 and kept:
        chosen = set(select_image_ids((image_ids[index] for index in kept), fraction, seed))
        kept = [index for index in kept if image_ids[index] in chosen]
    return kept
