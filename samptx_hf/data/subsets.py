"""Low-data subsets (COCO 1/512, ADE20K 1/64, ...) drawn over images, not over samples."""

from __future__ import annotations

from collections.abc import Iterable

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
