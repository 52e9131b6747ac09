"""One call from an image and a class name to a mask: `segment`, and an overlay picture of the result."""

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from transformers import BatchFeature

from ..processing.class_prompts import check_class_names
from ..processing.input_checks import NOT_A_POINT_LABEL, check_bool, check_prompt_values, image_fingerprint, load_image
from ..processing.processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_presence_threshold,
    check_processor,
    check_threshold,
)
from .engine import SegmentationEngine
from .results import SegmentationResult

OVERLAY_COLOR = (30, 144, 255)  # RGB of the mask tint
POINT_COLORS = {1: (0, 220, 0), 0: (230, 0, 0)}  # foreground, background


@torch.no_grad()
def segment(
    model: Callable[..., Any],
    image: str | os.PathLike | Image.Image | np.ndarray,
    text: str | Sequence[str],
    points: Sequence[Sequence[float]] | None = None,
    box: Sequence[float] | None = None,
    processor: SamPtxProcessor | None = None,
    threshold: float = 0.0,
    multimask_output: bool = False,
    point_labels: Sequence[int] | None = None,
    presence_threshold: float = 0.5,
    return_logits: bool = False,
) -> SegmentationResult | list[SegmentationResult]:
    """Segment what `text` names in `image`, optionally at point and box prompts.

    Without a point and a box the class name alone is the prompt: the model is given SAM's "not a point" prompt (one
    point `(0, 0)` labelled -1), as SAM-PTx trains its text-only rows, and answers every instance of the class. A
    model with a presence head (`SamPtxConfig.presence_head`) also says whether the image holds the class at all:
    `result.presence`, and below `presence_threshold` the masks are empty. With points the presence answers "is the
    object under the click one of these" and empties the masks the same way.

    Works with a [`SamPtxForTextSegmentation`] and with a `PeftModel` around one (its forward runs through the
    adapters). The model is put in eval mode for the call and back in its previous mode afterwards.

    Args:
        model: The model, called as `model(**inputs)`; it must expose `config` (and `get_tokenizer` unless
            `processor` is given), as SAM-PTx models and `PeftModel`s around them do.
        image: A path, a PIL image or a `(height, width, 3)` uint8 array.
        text: A class name, e.g. `"batfish"`, or a list of class names (one result each; the image encoder's
            text-free blocks run once for them all).
        points: `(x, y)` pixels of the original image, e.g. `[(120, 80)]`; foreground unless `point_labels` says 0.
        box: `(x1, y1, x2, y2)` pixels of the original image.
        processor: A [`SamPtxProcessor`]; by default [`SamPtxProcessor.from_model`] of the model.
        threshold: Logit above which a pixel is in the mask (0.0 is probability 0.5).
        multimask_output: Predict SAM's three masks and return the best one by predicted IoU as `mask`.
        point_labels: 1 (foreground) or 0 (background) per point; defaults to 1 for every point.
        presence_threshold: Presence probability below which the class is absent and its masks empty; unused by a
            model without a presence head.
        return_logits: Keep the upsampled logits of `mask` in `result.logits` (e.g. to compare classes per pixel, as
            [`samptx_hf.inference.semantic.segment_semantic`] does).

    Returns:
        A [`SegmentationResult`] for a class name, a list of them (in order) for a list of class names.

    Raises:
        FileNotFoundError: When `image` is a path that does not exist.
        ValueError: On an unreadable image, an empty image or (SAM) one too elongated for the model's input, an empty
            class name, a point or box outside the image, labels that do not match the points, a NaN `threshold`, a
            `presence_threshold` outside [0, 1], or a processor for the other SAM (SAM's for a SAM 2 model, or the
            reverse), points or a box that are not numbers.
        TypeError: On a `model` that is not a loaded SAM-PTx model (a path, for instance), a `processor` that is not
            a [`SamPtxProcessor`], a `threshold` or `presence_threshold` that is not a real number, or a
            `multimask_output` or `return_logits` that is not a bool.
    """
    check_model(model)
    threshold = check_threshold(threshold)
    presence_threshold = check_presence_threshold(presence_threshold)
    multimask_output = check_bool(multimask_output, "multimask_output")
    return_logits = check_bool(return_logits, "return_logits")
    class_names = check_class_names(text)
    pil_image = load_image(image)
    check_prompt_values(points, box)
    processor = check_processor(processor) if processor is not None else SamPtxProcessor.from_model(model)
    check_image_processor_matches(processor.image_processor, model.config.sam_config)
    inputs = prepare_inputs(processor, pil_image, text, points, box, point_labels)
    original_sizes = inputs.pop("original_sizes")
    reshaped_input_sizes = inputs.pop("reshaped_input_sizes")

    engine = SegmentationEngine(model, processor)
    outputs = engine.forward(inputs, multimask_output=multimask_output)  # the trunk once for all class names
    results = engine.results(
        outputs, original_sizes, reshaped_input_sizes, class_names, threshold, presence_threshold, return_logits
    )
    return results[0] if isinstance(text, str) else results


def check_model(model: Any, name: str = "model") -> None:
    """Refuse a `model` that is not a loaded SAM-PTx model (one with a `config.sam_config` that can be called), such
    as a folder name passed where the model goes.

    Raises:
        TypeError: Naming `name` and what was given; for a path, how to load it.
    """
    if isinstance(model, str | os.PathLike):
        path = os.fspath(model)
        raise TypeError(
            f"{name}={path!r} is a path, expected a loaded model: load it with "
            f"SamPtxForTextSegmentation.from_pretrained({path!r})"
        )
    if not callable(model) or not hasattr(getattr(model, "config", None), "sam_config"):
        raise TypeError(
            f"{name} is a {type(model).__name__}, expected a SamPtxForTextSegmentation or a PeftModel around one"
        )


def prepare_inputs(
    processor: SamPtxProcessor,
    image: Image.Image,
    text: str | Sequence[str],
    points: Sequence[Sequence[float]] | None = None,
    box: Sequence[float] | None = None,
    point_labels: Sequence[int] | None = None,
    mask_input: Any = None,
) -> BatchFeature:
    """The processor's inputs for one image and its class names (one sample per name), as [`segment`] builds them;
    `mask_input`, the low-resolution logits of an earlier result, is SAM's mask prompt for every name. Without points
    and a box, each sample gets the [`text_only_prompt`].

    Returns:
        A `BatchFeature` with the model's inputs and `original_sizes`, `reshaped_input_sizes` for post-processing.
    """
    inputs = processor(
        image,
        text,
        input_points=[list(point) for point in points] if points is not None else None,
        input_labels=list(point_labels) if point_labels is not None else None,
        input_boxes=list(box) if box is not None else None,
        input_masks=mask_input,
    )
    if points is None and box is None:
        inputs.update(text_only_prompt(len(inputs["input_ids"])))
    return inputs


def text_only_prompt(num_samples: int) -> dict[str, torch.Tensor]:
    """The prompt of a class name alone: one "not a point" per sample, coordinates `(0, 0)` with label -1
    (`NOT_A_POINT_LABEL`), as `SamPtxDataCollator` trains text-only rows; SAM and SAM 2 embed it with their
    `not_a_point_embed` and ignore its coordinates.

    Returns:
        `input_points` `(num_samples, 1, 1, 2)` float32 and `input_labels` `(num_samples, 1, 1)` int64.
    """
    return {
        "input_points": torch.zeros(num_samples, 1, 1, 2, dtype=torch.float32),
        "input_labels": torch.full((num_samples, 1, 1), NOT_A_POINT_LABEL, dtype=torch.int64),
    }


def overlay_mask(
    image: Image.Image,
    mask: np.ndarray,
    points: Sequence[Sequence[float]] | None = None,
    box: Sequence[float] | None = None,
    point_labels: Sequence[int] | None = None,
    alpha: float = 0.5,
) -> Image.Image:
    """The image with the mask tinted over it, its outline, and the prompts drawn (points as dots, the box).

    Args:
        image: The RGB image.
        mask (`np.ndarray` of shape `(height, width)`): The mask, at the image's size.
        points, box, point_labels: The prompts, in pixels of the image (foreground points green, background red).
        alpha: Opacity of the tint.

    Raises:
        ValueError: When the mask's shape is not the image's `(height, width)`.
    """
    image = image.convert("RGB")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (image.height, image.width):
        raise ValueError(
            f"mask has shape {mask.shape}, expected the image's (height, width) {(image.height, image.width)}"
        )
    pixels = np.asarray(image, dtype=np.float32)  # (height, width, 3)
    tinted = np.where(mask[..., None], (1 - alpha) * pixels + alpha * np.asarray(OVERLAY_COLOR, np.float32), pixels)
    # Outline: mask pixels with a background 4-neighbour.
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    tinted[mask & ~interior] = OVERLAY_COLOR
    overlay = Image.fromarray(tinted.round().astype(np.uint8))

    draw = ImageDraw.Draw(overlay)
    radius = max(2, round(0.012 * max(image.size)))
    if box is not None:
        draw.rectangle(list(box), outline=(255, 215, 0), width=max(1, radius // 2))
    labels = point_labels if point_labels is not None else [1] * len(points or [])
    for (x, y), label in zip(points or [], labels, strict=True):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=POINT_COLORS[int(label)], outline="white")
    return overlay


__all__ = [
    "SegmentationResult",
    "check_model",
    "check_prompt_values",
    "image_fingerprint",
    "load_image",
    "overlay_mask",
    "segment",
    "text_only_prompt",
]
