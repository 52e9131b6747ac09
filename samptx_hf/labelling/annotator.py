"""Labelling of a batch of images over a vocabulary: every class name of every image in few passes, or the point
and box prompts of an image (`--prompts`).

The costs a class name alone pays in [`segment`], shared across a dataset:

- the text encoder runs once per class for the whole run (`encode_text`, at construction);
- the image encoder's text-free blocks (the trunk) run once per image, for a batch of images at once;
- the blocks from the first text-reading one on, the prompt encoder and the mask decoder run per (image, class),
  all classes of an image in one batch (in chunks of `max_rows`).

With adapters in the last K blocks (`--adapter_layers last:K`), a class then costs K blocks, not the whole encoder.
An image with prompts ([`ImagePrompt`]) runs the adapted blocks once per class its prompts name, and its prompts
go through the decoder together (those with the same number of points and box in one batch: SAM's padding points
are not neutral, so only equal structures batch exactly). The results equal [`segment`]'s for the same image, class
names and prompts (within float32 rounding: the batch differs).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..inference.engine import SegmentationEngine, eval_mode, inputs_on_model
from ..inference.segment import text_only_prompt
from ..modeling.image_encoding import ImageTrunk
from ..modeling.sam_backbones import ImageFeatures
from ..processing.class_prompts import check_vocabulary
from ..processing.processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_presence_threshold,
    check_threshold,
)
from .prompts import ImagePrompt

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class ClassPrediction:
    """What [`BatchAnnotator`] found for one class of one image.

    Args:
        class_name (`str`): The class.
        mask (`np.ndarray` of dtype bool and shape `(height, width)`): Its mask at the image's size; empty when the
            class is absent (presence below the threshold).
        presence (`float`, *optional*): The presence probability; `None` for a model without a presence head.
        iou_score (`float`): SAM's predicted IoU of the mask.
        logits (`np.ndarray` of shape `(height, width)`, *optional*): The mask logits, kept with `keep_logits`.
    """

    class_name: str
    mask: np.ndarray
    presence: float | None
    iou_score: float
    logits: np.ndarray | None = None

    @property
    def score(self) -> float:
        """The confidence of the mask: presence × predicted IoU (the predicted IoU without a presence head)."""
        return self.iou_score * (self.presence if self.presence is not None else 1.0)


def check_dtype(dtype: str, device: str | torch.device) -> torch.dtype:
    """The torch dtype named `dtype` (`float32`, `bfloat16`, `float16`), if `device` computes in it.

    Raises:
        ValueError: On another name, `float16` on a CPU, or `bfloat16` on a GPU without it.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    device = torch.device(device)
    if dtype == "float16" and device.type == "cpu":
        raise ValueError("dtype 'float16' is not supported on the CPU, expected float32 or bfloat16")
    if dtype == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"dtype 'bfloat16' is not supported by {torch.cuda.get_device_name(device)}, use float16")
    return DTYPES[dtype]


class BatchAnnotator:
    """Answer every class of a vocabulary on batches of images, text only (no point, no box).

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one, on its device and in the dtype to
            compute in.
        classes: The vocabulary, each name once.
        processor: A [`SamPtxProcessor`]; by default [`SamPtxProcessor.from_model`] of the model.
        threshold: Mask logit above which a pixel is in a mask.
        presence_threshold: Presence probability below which a class is absent and its mask empty.
        max_rows: At most this many (image, class) rows go through the adapted blocks and the decoder at once.
        keep_logits: Keep each mask's logits (for a label map, [`samptx_hf.inference.semantic.label_map_of`]).

    Raises:
        ValueError: On an empty vocabulary, a class named twice, bad thresholds, `max_rows` below 1, or a processor
            for the other SAM.
    """

    def __init__(
        self,
        model: Any,
        classes: Sequence[str],
        processor: SamPtxProcessor | None = None,
        threshold: float = 0.0,
        presence_threshold: float = 0.5,
        max_rows: int = 32,
        keep_logits: bool = False,
    ):
        self.classes = check_vocabulary(classes)
        self.threshold = check_threshold(threshold)
        self.presence_threshold = check_presence_threshold(presence_threshold)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"max_rows={max_rows!r}, expected a positive integer")
        self.model = model
        self.processor = processor or getattr(model, "processor", None) or SamPtxProcessor.from_model(model)
        check_image_processor_matches(self.processor.image_processor, model.config.sam_config)
        self.max_rows = max_rows
        self._engine = SegmentationEngine(model, self.processor)
        self.keep_logits = keep_logits
        with eval_mode(model), torch.no_grad():
            self.text_embeds = model.encode_text(self.classes)  # (classes, text_dim), once for the run

    @torch.no_grad()
    def annotate(
        self, images: Sequence[Image.Image], prompts: Sequence[Sequence[ImagePrompt] | None] | None = None
    ) -> list[list[ClassPrediction]]:
        """Every class of the vocabulary on each image (one list per image, in the vocabulary's order), or for an
        image with prompts one prediction per prompt, in order.

        Args:
            images: The images.
            prompts: Per image, its prompts, or `None` (or an empty list) for text only; all text only by default.

        Raises:
            ValueError: On an image the model cannot take (empty, or for SAM too elongated), `prompts` not one entry
                per image, a prompt's class outside the vocabulary, or a point or box outside its image.
        """
        if prompts is None:
            prompts = [None] * len(images)
        if len(prompts) != len(images):
            raise ValueError(f"prompts has {len(prompts)} entries for {len(images)} images, expected one per image")
        for position, image_prompts in enumerate(prompts):
            for prompt in image_prompts or ():
                if prompt.class_name not in self.classes:
                    raise ValueError(f"prompt class {prompt.class_name!r} of image {position} is not in {self.classes}")
                prompt.check_inside(images[position].width, images[position].height, f"prompt of image {position}")
        if not images:
            return []
        for position, image in enumerate(images):
            self.processor.check_image_size((image.height, image.width), name=f"image {position}")
        trunk, original_sizes, reshaped_sizes = self._engine.encode_images(images)  # text-free blocks, once per image
        with eval_mode(self.model):
            return [
                self._annotate_prompts(_one_image(trunk, position), image_prompts, original_size, reshaped_size)
                if image_prompts
                else self._annotate_image(_one_image(trunk, position), original_size, reshaped_size)
                for position, (original_size, reshaped_size, image_prompts) in enumerate(
                    zip(original_sizes, reshaped_sizes, prompts, strict=True)
                )
            ]

    def _annotate_image(
        self, trunk: ImageTrunk, original_size: tuple[int, int], reshaped_size: tuple[int, int]
    ) -> list[ClassPrediction]:
        predictions: list[ClassPrediction] = []
        for start in range(0, len(self.classes), self.max_rows):
            class_names = self.classes[start : start + self.max_rows]
            text_embeds = self.text_embeds[start : start + len(class_names)]  # (rows, text_dim)
            features = self.model.get_image_embeddings(image_trunk=trunk, text_embeds=text_embeds)
            prompts = inputs_on_model(text_only_prompt(len(class_names)), self.model)
            outputs = self.model(image_embeddings=features, text_embeds=text_embeds, **prompts)
            predictions.extend(self._predictions(outputs, class_names, original_size, reshaped_size))
        return predictions

    def _annotate_prompts(
        self,
        trunk: ImageTrunk,
        prompts: Sequence[ImagePrompt],
        original_size: tuple[int, int],
        reshaped_size: tuple[int, int],
    ) -> list[ClassPrediction]:
        # 1. The adapted blocks once per class the prompts name.
        class_names = list(dict.fromkeys(prompt.class_name for prompt in prompts))
        text_embeds = self.text_embeds[[self.classes.index(name) for name in class_names]]  # (names, text_dim)
        features = ImageFeatures.cat(
            [
                self.model.get_image_embeddings(
                    image_trunk=trunk, text_embeds=text_embeds[start : start + self.max_rows]
                )
                for start in range(0, len(class_names), self.max_rows)
            ]
        )
        # 2. The prompts through the decoder, those of one structure together.
        groups: dict[tuple[int, bool], list[int]] = {}
        for row, prompt in enumerate(prompts):
            groups.setdefault(prompt.structure, []).append(row)
        predictions: list[ClassPrediction | None] = [None] * len(prompts)
        for group in groups.values():
            for start in range(0, len(group), self.max_rows):
                rows = group[start : start + self.max_rows]
                names = [prompts[row].class_name for row in rows]
                which = torch.tensor([class_names.index(name) for name in names])
                encoded = [
                    self.processor.encode_prompts(
                        original_size, reshaped_size, prompt.class_name, prompt.points, prompt.point_labels, prompt.box
                    )
                    for prompt in (prompts[row] for row in rows)
                ]
                inputs = {
                    key: torch.cat([encoding[key] for encoding in encoded])
                    for key in ("input_points", "input_labels", "input_boxes")
                    if key in encoded[0]
                }
                outputs = self.model(
                    image_embeddings=_rows(features, which),
                    text_embeds=text_embeds[which],
                    **inputs_on_model(inputs, self.model),
                )
                for row, prediction in zip(
                    rows, self._predictions(outputs, names, original_size, reshaped_size), strict=True
                ):
                    predictions[row] = prediction
        return predictions

    def _predictions(
        self, outputs: Any, class_names: list[str], original_size: tuple[int, int], reshaped_size: tuple[int, int]
    ) -> list[ClassPrediction]:
        """One [`ClassPrediction`] per row of the model's outputs."""
        rows = len(class_names)
        results = self._engine.results(
            outputs,
            torch.tensor([original_size] * rows),
            torch.tensor([reshaped_size] * rows),
            class_names,
            self.threshold,
            self.presence_threshold,
            keep_logits=self.keep_logits,
        )
        return [
            ClassPrediction(result.class_name, result.mask, result.presence, result.score, result.logits)
            for result in results
        ]


def _rows(features: ImageFeatures, which: torch.Tensor) -> ImageFeatures:
    """The rows `which` of `features`, repeated as often as named."""
    high = features.high_resolution_features
    return ImageFeatures(
        features.image_embeddings[which], tuple(level[which] for level in high) if high is not None else None
    )


def _one_image(trunk: ImageTrunk, position: int) -> ImageTrunk:
    """The trunk of image `position` alone."""
    return ImageTrunk(
        trunk.hidden_states[position : position + 1],
        [stage[position : position + 1] for stage in trunk.stage_outputs],
        trunk.num_blocks,
    )


__all__ = ["BatchAnnotator", "ClassPrediction", "DTYPES", "check_dtype"]
