"""Turns dataset rows into SAM-ready batches with point or text-only prompts, through transformers' SAM
processors."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..processing.image_processing_sam2 import prompt_processor
from ..processing.input_checks import NOT_A_POINT_LABEL, POINT_PAD_LABEL, to_rgb
from ..processing.processing_samptx import image_processor_for_sam_config  # noqa: F401 (re-exported)
from .conversion import to_binary_mask
from .prompts import interior_point, sample_positive_points

EVALUATION_PROMPT_MODES = ("point", "text", "mixed")  # one prompt per row
PAIRED = "paired"  # training only: each row asked twice, with its point and by its name alone
PROMPT_MODES = (*EVALUATION_PROMPT_MODES, PAIRED)


@dataclass
class _RowPrompt:
    """What the collator decided for one row: its class name, whether it keeps its point, whether the name is
    present in the image."""

    class_name: str
    has_point: bool
    present: bool


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

    Text-only prompts and absent classes (`prompt_mode`, `absent_class_fraction`). Each row:

    - keeps its point(s) always (`"point"`), never (`"text"`) or with probability `point_probability` (`"mixed"`).
      A row with its point has label-1 points and today's target, `mask` (the pointed object). A row without gets
      one "not a point" prompt, coordinates `(0, 0)` with label -1 (SAM's and SAM 2's padding point), followed, when
      `num_points > 1`, by `(0, 0)` points labelled -10 (transformers' padding, ignored by the prompt encoder); its
      target is the row's `class_mask` (every region of the class in the image) when the row has one, else `mask`;
    - or, with `"paired"`, is asked both ways at once, as two queries of SAM's point batch: query 0 with its
      point(s) (target `mask`), query 1 by its name alone (target `class_mask`). The model encodes the image (and
      the name) once and decodes both, so every row teaches both tasks for one image-encoder pass;
    - becomes an absent sample with probability `absent_class_fraction`: its class name is replaced by a class of
      `class_names` that is not in the row's `present_classes` (drawn uniformly; when every class is present, the
      row stays as it is), its target is empty and its presence label 0. A row whose own `class_name` is not in its
      `present_classes` (e.g. a COD10K image without a camouflaged object) is absent as well.

    Rows with a `sample_index` draw these choices from a generator seeded by `(seed, epoch, sample_index)` (a stream
    of its own: the points are the same as in `"point"` mode), and at evaluation by `(seed, sample_index)`; rows
    without it from a per-worker generator seeded with `seed` at training, and at evaluation from `(seed, image_id,
    class_name)`, so every evaluation sees the same absent classes and the same kept points. With the defaults,
    every row keeps its point and is present: the batch is the point-prompted one.

    Args:
        image_processor (`SamImageProcessor`, `SamImageProcessorPil` or `Sam2TorchImageProcessor`):
            The processor that resizes/pads images and masks, e.g. from `image_processor_for_sam_config`.
        num_points (`int`, defaults to 1):
            Positive points per sample.
        train (`bool`, defaults to `True`):
            Random points (training) or the deterministic interior point (evaluation).
        seed (`int`, defaults to 0):
            Seed of the point generator (and of the prompt and absent-class choices).
        prompt_mode (`str`, defaults to `"point"`):
            `"point"`, `"text"` (no point: the class name alone), `"mixed"` (each row keeps its point with
            probability `point_probability`) or `"paired"` (each row asked with its point and by its name alone).
        point_probability (`float`, defaults to 0.5):
            `"mixed"` only: the probability that a row keeps its point, in [0, 1].
        absent_class_fraction (`float`, defaults to 0.0):
            Probability that a row names a class absent from its image, in [0, 1). Above 0, rows need a
            `present_classes` column.
        class_names (`Sequence[str]`, *optional*):
            The dataset's vocabulary, where absent classes are drawn from; needed when `absent_class_fraction > 0`.
        augmentation (`Callable`, *optional*):
            Training only: called as `augmentation(image, masks, seed=...)` on each row's image ((height, width, 3)
            uint8) and masks (its `mask`, and `point_mask` / `class_mask` when it has them), before the points are
            drawn; returns them augmented alike (e.g. [`~samptx_hf.data.augmentation.PairedAugmentation`]). The
            seed comes from `(seed, epoch, sample_index)` for rows with `sample_index`.

    Returns (from `__call__`):
        `dict` with
        - `pixel_values` (`torch.FloatTensor` of shape `(batch, 3, height, width)`),
        - `input_points` (`torch.FloatTensor` of shape `(batch, 1, num_points, 2)`): `(x, y)` in the resized
        image,
        - `input_labels` (`torch.LongTensor` of shape `(batch, 1, num_points)`): 1 (positive) for a row with its
          point, -1 then -10 for a row without,
        - `labels` (`torch.FloatTensor` of shape `(batch, mask_height, mask_width)`): the 0/1 target at SAM's
          low-resolution mask size, resized and padded like `pred_masks`,
        - `class_names` (`list[str]`): the names prompted (an absent row's substituted name),
        - `masks` (`list[np.ndarray]`): each row's boolean target at the original image size (for scoring; empty
          for an absent row),
        - `presence_labels` (`torch.FloatTensor` of shape `(batch,)`): 1 if the named class is in the image, else 0,
        - `has_point` (`torch.BoolTensor` of shape `(batch,)`): whether the row kept its point,
        - `original_sizes`, `reshaped_input_sizes` (`torch.LongTensor` of shape `(batch, 2)`): `(height,
        width)`,
          for `image_processor.post_process_masks`,
        - `image_groups` (`list[int]`): for each row, the first row of the batch with the same image (same
          `image_id` and equal pixels, not augmented), so that the model shares the image's text-free blocks
          without comparing pixels on its device.

        With `"paired"`, the query axis is 2: `input_points` `(batch, 2, num_points, 2)`, `input_labels` `(batch, 2,
        num_points)`, `labels` `(batch, 2, mask_height, mask_width)`, `has_point` `(batch, 2)` (`[True, False]`) and
        each of `masks` `(2, height, width)`.

    Raises:
        ValueError: at construction, on an unknown `prompt_mode`, a `point_probability` outside [0, 1], an
            `absent_class_fraction` outside [0, 1), or `absent_class_fraction > 0` without `class_names`; at call,
            on a row whose masks do not match its image, or, with `absent_class_fraction > 0`, a row without
            `present_classes`.
    """

    def __init__(
        self,
        image_processor: Any,
        num_points: int = 1,
        train: bool = True,
        seed: int = 0,
        *,
        prompt_mode: str = "point",
        point_probability: float = 0.5,
        absent_class_fraction: float = 0.0,
        class_names: Sequence[str] | None = None,
        augmentation: Callable[..., tuple[np.ndarray, list[np.ndarray]]] | None = None,
    ) -> None:
        if num_points < 1:
            raise ValueError(f"num_points={num_points}, expected at least 1")
        if prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode={prompt_mode!r}, expected one of {PROMPT_MODES}")
        if not _is_probability(point_probability) or point_probability > 1:
            raise ValueError(f"point_probability={point_probability!r}, expected a probability in [0, 1]")
        if not _is_probability(absent_class_fraction) or absent_class_fraction >= 1:
            raise ValueError(f"absent_class_fraction={absent_class_fraction!r}, expected a fraction in [0, 1)")
        if class_names is not None:
            if isinstance(class_names, str) or any(not isinstance(n, str) or not n.strip() for n in class_names):
                raise ValueError(f"class_names={class_names!r}, expected a sequence of non-empty class names")
            class_names = tuple(dict.fromkeys(class_names))
        if absent_class_fraction > 0 and not class_names:
            raise ValueError(
                f"absent_class_fraction={absent_class_fraction} needs class_names (the dataset's vocabulary, where "
                f"absent classes are drawn from), got {class_names!r}"
            )
        self.processor = prompt_processor(image_processor)
        self.image_processor = image_processor
        self.num_points = num_points
        self.train = train
        self.seed = seed
        self.prompt_mode = prompt_mode
        self.point_probability = float(point_probability)
        self.absent_class_fraction = float(absent_class_fraction)
        self.class_names = class_names
        self.augmentation = augmentation if train else None
        # In shared memory: persistent DataLoader workers keep their copy of the collator, and see `set_epoch`.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._generators: dict[int, torch.Generator] = {}
        self._choice_generators: dict[int, np.random.Generator] = {}

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self._epoch[0] = int(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Training points of rows with `sample_index` are drawn anew each epoch (in DataLoader workers too, kept
        from one epoch to the next or not)."""
        self.epoch = epoch

    def _train_generator(self) -> torch.Generator:
        worker_id = _worker_id()
        if worker_id not in self._generators:
            self._generators[worker_id] = torch.Generator().manual_seed(self.seed + worker_id + 1)
        return self._generators[worker_id]

    def _row_generator(self, sample_index: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch, int(sample_index)]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(state))

    def _choice_generator(self, row: dict[str, Any]) -> np.random.Generator:
        """Where a row's prompt and absent-class choices come from (see the class docstring)."""
        sample_index = row.get("sample_index")
        if sample_index is not None:
            key = [self.seed, self.epoch, int(sample_index), 1] if self.train else [self.seed, int(sample_index), 2]
            return np.random.default_rng(key)
        if not self.train:
            image_id, class_name = str(row.get("image_id", "")), str(row["class_name"])
            return np.random.default_rng([self.seed, zlib.crc32(image_id.encode()), zlib.crc32(class_name.encode()), 3])
        worker_id = _worker_id()
        if worker_id not in self._choice_generators:
            self._choice_generators[worker_id] = np.random.default_rng([self.seed, worker_id + 1, 4])
        return self._choice_generators[worker_id]

    def _augmentation_seed(self, row: dict[str, Any]) -> int:
        """The seed of a row's augmentation: from `(seed, epoch, sample_index)`, else the worker's generator."""
        sample_index = row.get("sample_index")
        if sample_index is not None:
            return int(np.random.SeedSequence([self.seed, self.epoch, int(sample_index), 5]).generate_state(1)[0])
        return int(self._choice_generator(row).integers(2**31))

    def _augment(
        self, row: dict[str, Any], image: Image.Image, mask: np.ndarray
    ) -> tuple[Image.Image, dict[str, Any], np.ndarray]:
        """The row's image and masks (`mask`, `point_mask`, `class_mask`) under one augmentation draw."""
        extra = [name for name in ("point_mask", "class_mask") if row.get(name) is not None]
        masks = [mask] + [_same_size_mask(row, name, mask.shape) for name in extra]
        array, augmented = self.augmentation(np.asarray(image), masks, seed=self._augmentation_seed(row))
        if any(old.any() and not new.any() for old, new in zip(masks, augmented, strict=True)):
            return image, row, mask  # the draw moved the object out of the image: the row is kept as it is
        return Image.fromarray(array), {**row, **dict(zip(extra, augmented[1:], strict=True))}, augmented[0]

    def _row_prompt(self, row: dict[str, Any], mask: np.ndarray) -> _RowPrompt:
        """The row's class name, whether it keeps its point and whether the name is present in its image."""
        class_name = str(row["class_name"])
        present_classes = row.get("present_classes")
        if self.absent_class_fraction > 0 and present_classes is None:
            raise ValueError(
                f"row {row.get('image_id', '')!r} has no present_classes, expected the classes of its image to draw "
                f"an absent class (absent_class_fraction={self.absent_class_fraction}); load the data with a loader "
                "that adds the column, or add it"
            )
        present = present_classes is None or class_name in present_classes
        if not present and mask.any():
            raise ValueError(
                f"row {row.get('image_id', '')!r} names {class_name!r}, not in its present_classes "
                f"{list(present_classes)}, but its mask is not empty; expected the row's class among present_classes"
            )
        if self.prompt_mode == "point" and self.absent_class_fraction == 0:
            return _RowPrompt(class_name, has_point=True, present=present)
        generator = self._choice_generator(row)
        keep_point, absent = generator.random(2)  # both drawn in every mode: a row's choices do not depend on it
        has_point = self.prompt_mode in ("point", PAIRED) or (
            self.prompt_mode == "mixed" and keep_point < self.point_probability
        )
        if present and absent < self.absent_class_fraction:
            candidates = [name for name in self.class_names if name not in present_classes]
            if candidates:
                return _RowPrompt(candidates[generator.integers(len(candidates))], has_point, present=False)
        return _RowPrompt(class_name, has_point, present)

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
        paired = self.prompt_mode == PAIRED
        images, masks, text_masks, references, points, labels, prompts = [], [], [], [], [], [], []
        image_groups: list[int] = []
        first_row_of_image: dict[str, int] = {}
        for index, row in enumerate(rows):
            image = row["image"]
            image = to_rgb(image) if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
            mask = to_binary_mask(row["mask"])
            if mask.shape != (image.height, image.width):
                raise ValueError(
                    f"mask of {row.get('image_id', 'a row')!r} has size {mask.shape}, expected the image's "
                    f"{(image.height, image.width)}; run drop_invalid_samples on the dataset first"
                )
            image_id = row.get("image_id")
            if self.augmentation is not None:
                image, row, mask = self._augment(row, image, mask)
                image_id = None  # each row's draw differs: no two rows share the augmented image
            first = index if image_id is None else first_row_of_image.setdefault(str(image_id), index)
            if first != index and not np.array_equal(np.asarray(image), np.asarray(images[first])):
                first = index  # an id shared by two different images (e.g. one file name in two folders)
            image_groups.append(first)
            point_mask = mask if row.get("point_mask") is None else _same_size_mask(row, "point_mask", mask.shape)
            prompt = self._row_prompt(row, mask)
            asked_by_name = paired or not prompt.has_point
            if not prompt.present:
                target = text_target = np.zeros_like(mask)
            else:
                text_target = mask
                if asked_by_name and row.get("class_mask") is not None:
                    text_target = _same_size_mask(row, "class_mask", mask.shape)
                target = mask if prompt.has_point else text_target
            images.append(image)
            masks.append(target.astype(np.uint8))
            prompts.append(prompt)
            queries = []
            if prompt.has_point:
                queries.append((self._points(point_mask, row.get("sample_index")).tolist(), [1] * self.num_points))
            if asked_by_name:
                queries.append(
                    (
                        [[0.0, 0.0]] * self.num_points,
                        [NOT_A_POINT_LABEL] + [POINT_PAD_LABEL] * (self.num_points - 1),
                    )
                )
            points.append([query[0] for query in queries])  # (point_batch, points, 2)
            labels.append([query[1] for query in queries])  # (point_batch, points)
            if paired:
                text_masks.append(text_target.astype(np.uint8))
                references.append(np.stack([target, text_target]))
            else:
                references.append(target)

        encoding = self.processor(
            images=images,
            segmentation_maps=masks,
            input_points=points,  # (batch, point_batch, points, 2)
            input_labels=labels,  # (batch, point_batch, points)
            return_tensors="pt",
        )
        targets = encoding["labels"].to(torch.float32)
        has_point = torch.tensor([prompt.has_point for prompt in prompts], dtype=torch.bool)
        if paired:  # the name-alone targets, resized and padded as the pointed ones
            text_targets = self.processor(images=images, segmentation_maps=text_masks, return_tensors="pt")["labels"]
            targets = torch.stack([targets, text_targets.to(torch.float32)], dim=1)
            has_point = torch.stack([has_point, torch.zeros_like(has_point)], dim=1)
        return {
            "pixel_values": encoding["pixel_values"],
            "input_points": encoding["input_points"].to(torch.float32),
            "input_labels": encoding["input_labels"].to(torch.int64),
            "labels": targets,
            "class_names": [prompt.class_name for prompt in prompts],
            "masks": references,
            "presence_labels": torch.tensor([float(prompt.present) for prompt in prompts]),  # (batch,)
            "has_point": has_point,  # (batch,), or (batch, 2) when paired
            "original_sizes": encoding["original_sizes"],
            "reshaped_input_sizes": encoding["reshaped_input_sizes"],
            "image_groups": image_groups,
        }


def _is_probability(value: Any) -> bool:
    """Whether `value` is a real number in [0, 1] (not a bool, not NaN)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value) and 0 <= value <= 1


def _worker_id() -> int:
    worker = torch.utils.data.get_worker_info()
    return -1 if worker is None else worker.id


def _same_size_mask(row: dict[str, Any], column: str, shape: tuple[int, ...]) -> np.ndarray:
    """The row's `column` as a boolean mask, refused unless it has the size `shape` of the row's mask."""
    mask = to_binary_mask(row[column])
    if mask.shape != shape:
        raise ValueError(
            f"{column} of {row.get('image_id', 'a row')!r} has size {mask.shape}, expected the mask's {shape}"
        )
    return mask
