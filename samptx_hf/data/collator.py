"""Turns dataset rows into SAM-ready batches with point prompts, through transformers' SAM processors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..processing_samptx import image_processor_for_sam_config  # noqa: F401 (re-exported)
from ..sam2_image_processing import prompt_processor
from .conversion import to_binary_mask, to_rgb
from .prompts import interior_point, sample_positive_points


class SamPtxDataCollator:
    """Collates rows with `image`, `mask` and `class_name` into a batch for SAM-PTx.

    Points are drawn in the original image, inside the row's `point_mask` when it has one (the built-in task
    points at a part that both of its readings contain), inside its `mask` otherwise: at training, `num_points`
    uniform points. When rows
    carry a `sample_index` column, each row's points come from a generator seeded by `(seed, epoch,
    sample_index)` (`set_epoch` sets the epoch): they do not depend on the process, the worker, the batch or a
    resume, so one process and several give the same run. Otherwise they come from a `torch.Generator` seeded
    with `seed` (each DataLoader worker gets its own stream `seed + worker_id + 1`);
    at evaluation, the interior point farthest from the mask boundary (then, if `num_points > 1`, points drawn
    with a generator re-seeded with `seed` for every row, so a row's points do not depend on its batch). The
    processor then maps them to the resized-image frame, as `SamProcessor` does.

    Args:
        image_processor (`SamImageProcessor`, `SamImageProcessorPil` or `Sam2TorchImageProcessor`):
            The processor that resizes/pads images and masks, e.g. from `image_processor_for_sam_config`.
        num_points (`int`, defaults to 1):
            Positive points per sample.
        train (`bool`, defaults to `True`):
            Random points (training) or the deterministic interior point (evaluation).
        seed (`int`, defaults to 0):
            Seed of the point generator.

    Returns (from `__call__`):
        `dict` with
        - `pixel_values` (`torch.FloatTensor` of shape `(batch, 3, height, width)`),
        - `input_points` (`torch.FloatTensor` of shape `(batch, 1, num_points, 2)`): `(x, y)` in the resized
        image,
        - `input_labels` (`torch.LongTensor` of shape `(batch, 1, num_points)`): all 1 (positive),
        - `labels` (`torch.FloatTensor` of shape `(batch, mask_height, mask_width)`): the 0/1 target at SAM's
          low-resolution mask size, resized and padded like `pred_masks`,
        - `class_names` (`list[str]`),
        - `masks` (`list[np.ndarray]`): each row's boolean target at the original image size (for scoring),
        - `original_sizes`, `reshaped_input_sizes` (`torch.LongTensor` of shape `(batch, 2)`): `(height,
        width)`,
          for `image_processor.post_process_masks`.
    """

    def __init__(self, image_processor: Any, num_points: int = 1, train: bool = True, seed: int = 0) -> None:
        if num_points < 1:
            raise ValueError(f"num_points={num_points}, expected at least 1")
        self.processor = prompt_processor(image_processor)
        self.image_processor = image_processor
        self.num_points = num_points
        self.train = train
        self.seed = seed
        self.epoch = 0
        self._generators: dict[int, torch.Generator] = {}

    def set_epoch(self, epoch: int) -> None:
        """Training points of rows with `sample_index` are drawn anew each epoch."""
        self.epoch = epoch

    def _train_generator(self) -> torch.Generator:
        worker = torch.utils.data.get_worker_info()
        worker_id = -1 if worker is None else worker.id
        if worker_id not in self._generators:
            self._generators[worker_id] = torch.Generator().manual_seed(self.seed + worker_id + 1)
        return self._generators[worker_id]

    def _row_generator(self, sample_index: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch, int(sample_index)]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(state))

    def _points(self, mask: np.ndarray, sample_index: int | None = None) -> np.ndarray:
        if self.train:
            generator = self._train_generator() if sample_index is None else self._row_generator(sample_index)
            return sample_positive_points(mask, self.num_points, generator)
        points = interior_point(mask)[None]
        if self.num_points > 1:
            generator = torch.Generator().manual_seed(self.seed)
            points = np.concatenate([points, sample_positive_points(mask, self.num_points - 1, generator)])
        return points

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            raise ValueError("got an empty list of rows, expected at least one")
        images, masks, references, points = [], [], [], []
        for row in rows:
            image = row["image"]
            image = to_rgb(image) if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
            mask = to_binary_mask(row["mask"])
            if mask.shape != (image.height, image.width):
                raise ValueError(
                    f"mask of {row.get('image_id', 'a row')!r} has size {mask.shape}, expected the image's "
                    f"{(image.height, image.width)}; run drop_invalid_samples on the dataset first"
                )
            point_mask = mask if row.get("point_mask") is None else to_binary_mask(row["point_mask"])
            if point_mask.shape != mask.shape:
                raise ValueError(
                    f"point_mask of {row.get('image_id', 'a row')!r} has size {point_mask.shape}, expected the "
                    f"mask's {mask.shape}"
                )
            images.append(image)
            references.append(mask)
            masks.append(mask.astype(np.uint8))
            points.append(self._points(point_mask, row.get("sample_index")).tolist())

        encoding = self.processor(
            images=images,
            segmentation_maps=masks,
            input_points=[[image_points] for image_points in points],  # (batch, point_batch=1, points, 2)
            input_labels=[[[1] * self.num_points] for _ in points],
            return_tensors="pt",
        )
        return {
            "pixel_values": encoding["pixel_values"],
            "input_points": encoding["input_points"].to(torch.float32),
            "input_labels": encoding["input_labels"].to(torch.int64),
            "labels": encoding["labels"].to(torch.float32),
            "class_names": [str(row["class_name"]) for row in rows],
            "masks": references,
            "original_sizes": encoding["original_sizes"],
            "reshaped_input_sizes": encoding["reshaped_input_sizes"],
        }
