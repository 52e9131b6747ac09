"""What the demo page does, as plain Python: prompts from clicks, class names from text, masks from the model.

The Gradio page ([`build_demo`]) only wires these functions to its components, so everything here is tested
without a browser. Bad input raises [`DemoInputError`], whose message the page shows as it is.
"""

import math
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..inference.predictor import SamPtxPredictor
from ..inference.segment import SegmentationResult, load_image, overlay_mask
from ..processing.class_prompts import check_class_names

MAX_IMAGE_SIDE = 2048  # px; larger images are downscaled on upload (SAM itself works at 1024 px)
MAX_CLASS_NAMES = 8  # each class name is one pass of the image encoder
PROMPT_MODES = ("foreground point", "background point", "box corner")
MASK_COLORS = ("#1e90ff", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#bcbd22", "#17becf")


class DemoInputError(ValueError):
    """Input the demo cannot use (no class name, an unreadable image, ...); the page shows the message."""


@dataclass
class Prompts:
    """The point and box prompts clicked on one image, in its pixels.

    Args:
        points (`list[list[float]]`): `(x, y)` of every point, in click order.
        point_labels (`list[int]`): 1 (foreground) or 0 (background) per point.
        box (`list[float]`, *optional*): `(x1, y1, x2, y2)` with `x1 <= x2` and `y1 <= y2`.
        box_corner (`list[float]`, *optional*): The first corner of a box whose second corner is not clicked yet.
    """

    points: list[list[float]] = field(default_factory=list)
    point_labels: list[int] = field(default_factory=list)
    box: list[float] | None = None
    box_corner: list[float] | None = None

    def add_click(self, x: float, y: float, mode: str) -> "Prompts":
        """These prompts with a click at `(x, y)` added as `mode`, one of `PROMPT_MODES`.

        Two clicks in `"box corner"` mode give a box (the second replaces any previous box).
        """
        if mode not in PROMPT_MODES:
            raise DemoInputError(f"click mode {mode!r} is unknown, expected one of {PROMPT_MODES}")
        point = [float(x), float(y)]
        if mode != "box corner":
            return Prompts(
                [*self.points, point], [*self.point_labels, int(mode == "foreground point")], self.box, self.box_corner
            )
        if self.box_corner is None:
            return Prompts(list(self.points), list(self.point_labels), self.box, point)
        (x1, y1), (x2, y2) = self.box_corner, point
        box = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
        return Prompts(list(self.points), list(self.point_labels), box, None)

    @property
    def is_empty(self) -> bool:
        """Whether there is neither a point nor a complete box."""
        return not self.points and self.box is None

    def describe(self) -> str:
        """A short human summary, e.g. `"2 foreground points, 1 background point, a box"`."""
        foreground = sum(self.point_labels)
        background = len(self.point_labels) - foreground
        parts = [
            f"{count} {kind} point{'s' if count != 1 else ''}"
            for count, kind in ((foreground, "foreground"), (background, "background"))
            if count
        ]
        if self.box is not None:
            parts.append("a box")
        if self.box_corner is not None:
            parts.append("a box corner (click the opposite corner)")
        return ", ".join(parts) if parts else "no prompt"

    def to_json(self) -> dict[str, Any]:
        """The prompts as the JSON the page's `segment` API takes (see [`from_json`])."""
        return {
            "points": self.points,
            "point_labels": self.point_labels,
            "box": self.box,
            "box_corner": self.box_corner,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> "Prompts":
        """Prompts from `{"points": [[x, y], ...], "point_labels": [1, 0, ...], "box": [x1, y1, x2, y2]}`.

        Every key is optional; `point_labels` defaults to 1 for every point.

        Raises:
            DemoInputError: On a value of another form.
        """
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise DemoInputError(f"prompts must be a JSON object with points, point_labels and box, got {value!r}")
        unknown = sorted(set(value) - {"points", "point_labels", "box", "box_corner"})
        if unknown:
            raise DemoInputError(f"unknown prompt keys {unknown}, expected points, point_labels, box")
        points = [_numbers(point, 2, "a point [x, y]") for point in value.get("points") or []]
        labels = value.get("point_labels")
        labels = [1] * len(points) if labels is None else list(labels)
        if len(labels) != len(points) or any(label not in (0, 1) for label in labels):
            raise DemoInputError(f"point_labels {labels!r} must give 0 or 1 for each of the {len(points)} points")
        box = value.get("box")
        box = _numbers(box, 4, "a box [x1, y1, x2, y2]") if box is not None else None
        corner = value.get("box_corner")
        corner = _numbers(corner, 2, "a box corner [x, y]") if corner is not None else None
        return cls(points, [int(label) for label in labels], box, corner)


def _numbers(value: Any, count: int, form: str) -> list[float]:
    if (
        not isinstance(value, Sequence | np.ndarray)
        or isinstance(value, str)
        or len(value) != count
        or not all(isinstance(number, int | float) and math.isfinite(number) for number in value)
    ):
        raise DemoInputError(f"{value!r} is not {form} of {count} numbers")
    return [float(number) for number in value]


def parse_class_names(text: str | None) -> list[str]:
    """The class names in `text`, separated by commas or new lines, stripped, without repeats, in order.

    Raises:
        DemoInputError: When there is no class name, or more than `MAX_CLASS_NAMES`.
    """
    typed = [name for name in re.split(r"[,\n]", text or "") if name.strip()]
    if not typed:
        raise DemoInputError("Type a class name (or several, separated by commas), e.g. 'circle, striped'.")
    names = list(dict.fromkeys(check_class_names(typed)))
    if len(names) > MAX_CLASS_NAMES:
        raise DemoInputError(f"{len(names)} class names given, at most {MAX_CLASS_NAMES} at once.")
    return names


def prepare_image(image: Any, name: str | None = None, max_side: int | None = MAX_IMAGE_SIDE) -> tuple[np.ndarray, str]:
    """An uploaded image as a `(height, width, 3)` uint8 array, read as `segment` reads it
    ([`samptx_hf.inference.segment.load_image`]: a 16-bit PNG is scaled to 8 bits, not clipped to white), downscaled to
    `max_side` if larger.

    Args:
        image: A path, a PIL image or an array, as [`samptx_hf.inference.segment.load_image`] takes.
        name: The name the user knows the file by (an upload's original name), used in messages instead of the
            path where the server keeps it.
        max_side: The longest side kept; None keeps the image's size (the `/segment` API's image).

    Returns:
        The array and a message for the page (what was loaded, and whether it was downscaled).

    Raises:
        DemoInputError: When there is no image, or it cannot be read.
    """
    if image is None:
        raise DemoInputError("Upload an image or pick one of the examples first.")
    try:
        pil_image = load_image(image)
    except (OSError, ValueError) as error:
        message = str(error)
        if name and isinstance(image, str | os.PathLike):
            message = message.replace(os.fspath(image), name)
        raise DemoInputError(f"Cannot use this image: {message}") from error
    width, height = pil_image.size
    message = f"Image of {width}×{height} px."
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pil_image = pil_image.resize(size, Image.Resampling.LANCZOS)
        message = f"Image of {width}×{height} px, downscaled to {size[0]}×{size[1]} px (at most {max_side})."
    return np.asarray(pil_image), message


def draw_prompts(image: np.ndarray, prompts: Prompts) -> np.ndarray:
    """The image with its prompts drawn: foreground points green, background red, the box and a pending corner."""
    no_mask = np.zeros(image.shape[:2], dtype=bool)
    drawn = overlay_mask(Image.fromarray(image), no_mask, prompts.points, prompts.box, prompts.point_labels)
    if prompts.box_corner is not None:
        x, y = prompts.box_corner
        arm = max(4, round(0.03 * max(drawn.size)))
        draw = ImageDraw.Draw(drawn)
        for line in ([x - arm, y, x + arm, y], [x, y - arm, x, y + arm]):
            draw.line(line, fill=(255, 215, 0), width=max(1, arm // 4))
    return np.asarray(drawn)


@dataclass
class DemoSegmentation:
    """The masks of several class names on one image, and how the page shows them.

    With no point and no box, and a model with a presence head, the page shows only the classes the model answers
    present (`shown`); with prompts, or without a presence head, it shows every class name typed.

    Args:
        image (`np.ndarray` of shape `(height, width, 3)`): The image that was segmented.
        results (`list[SegmentationResult]`): One per class name, in the order typed.
        message (`str`): What the page says about this segmentation.
        text_only (`bool`): Whether the class names alone were the prompts (no point, no box).
        presence_threshold (`float`): Presence probability from which a class counts as present.
    """

    image: np.ndarray
    results: list[SegmentationResult]
    message: str
    text_only: bool = False
    presence_threshold: float = 0.5

    @property
    def has_presence(self) -> bool:
        """Whether the model answered whether the image holds each class (it has a presence head)."""
        return bool(self.results) and all(result.presence is not None for result in self.results)

    @property
    def present(self) -> list[SegmentationResult]:
        """The results whose presence reaches `presence_threshold`; all of them for a model without presence."""
        if not self.has_presence:
            return list(self.results)
        return [result for result in self.results if result.presence >= self.presence_threshold]

    @property
    def absent(self) -> list[SegmentationResult]:
        """The results whose presence is below `presence_threshold` (their masks are empty)."""
        if not self.has_presence:
            return []
        return [result for result in self.results if result.presence < self.presence_threshold]

    @property
    def shown(self) -> list[SegmentationResult]:
        """The results the page shows: the present classes for a text-only question, else every class."""
        return self.present if self.text_only else list(self.results)

    @property
    def labels(self) -> list[str]:
        """The legend entry of each shown mask: its class name, SAM's predicted IoU and the presence if any."""
        return [_legend_label(result) for result in self.shown]

    @property
    def color_map(self) -> dict[str, str]:
        """The colour of each legend entry: that of its class's place among the names typed, hidden ones included."""
        colors = {id(result): MASK_COLORS[i % len(MASK_COLORS)] for i, result in enumerate(self.results)}
        return {_legend_label(result): colors[id(result)] for result in self.shown}

    def annotations(self) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
        """`(image, [(mask, label), ...])` of the shown masks, the value of a Gradio `AnnotatedImage`."""
        return self.image, [
            (result.mask.astype(np.float32), label) for result, label in zip(self.shown, self.labels, strict=True)
        ]

    def save_masks(self, directory: str | Path) -> list[Path]:
        """Writes each shown mask as a 0/255 PNG at the image's size, `mask_<n>_<class name>.png`, `n` counting
        the names typed; returns the paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        shown = {id(result) for result in self.shown}
        paths = []
        for number, result in enumerate(self.results, start=1):
            if id(result) not in shown:
                continue
            slug = re.sub(r"[^A-Za-z0-9-]+", "_", result.class_name).strip("_")[:40] or "class"
            path = directory / f"mask_{number}_{slug}.png"
            Image.fromarray(result.mask.astype(np.uint8) * 255).save(path, format="PNG")
            paths.append(path)
        return paths


def _legend_label(result: SegmentationResult) -> str:
    presence = f", presence {result.presence:.2f}" if result.presence is not None else ""
    return f"{result.class_name} (IoU {result.score:.2f}{presence})"


def _presence_message(segmentation: DemoSegmentation) -> str:
    """`"present: red (0.97), blue (0.88); absent: green (0.02)."`, `none` standing for an empty list."""

    def listed(results: list[SegmentationResult]) -> str:
        return ", ".join(f"{result.class_name} ({result.presence:.2f})" for result in results) or "none"

    return f"present: {listed(segmentation.present)}; absent: {listed(segmentation.absent)}."


def segment_classes(
    model: Any,
    image: np.ndarray | None,
    class_text: str | None,
    prompts: Prompts,
    processor: Any = None,
    presence_threshold: float = 0.5,
) -> DemoSegmentation:
    """Segments every class name of `class_text` in `image` at `prompts`.

    `model` is a SAM-PTx model or, as the page passes it, the session's [`SamPtxPredictor`]: then the image is
    encoded once, each class once on it, and a further click runs only SAM's prompt encoder and mask decoder. The
    masks are those of `segment`.

    With neither a point nor a box each class name alone is the prompt. A model with a presence head then says which
    classes the image holds: the message lists the present ones and the absent ones with their presence, and only
    the present ones are shown. A model without one shows every class, and the message says it has no presence
    answer. With prompts every class is shown, and the presence, where there is one, stands beside the IoU.

    Args:
        presence_threshold: Presence probability from which a class is present (below it its masks are empty).

    Raises:
        DemoInputError: On a missing image, no class name, too many, or prompts the model rejects (a point outside
            the image, ...).
    """
    if image is None:
        raise DemoInputError("Upload an image or pick one of the examples first.")
    class_names = parse_class_names(class_text)
    predictor = model if isinstance(model, SamPtxPredictor) else SamPtxPredictor(model, processor)
    try:
        predictor.set_image(image)
        results = predictor.predict(
            class_names,
            points=prompts.points or None,
            box=prompts.box,
            point_labels=prompts.point_labels or None,
            presence_threshold=presence_threshold,
        )
    except ValueError as error:
        raise DemoInputError(f"Cannot segment: {error}") from error
    segmentation = DemoSegmentation(image, results, "", prompts.is_empty, presence_threshold)
    hint = "No point or box: the class name alone was the prompt; click on the object to guide SAM."
    if segmentation.text_only and segmentation.has_presence:
        segmentation.message = f"{_presence_message(segmentation)} {hint}"
        return segmentation
    found = "; ".join(
        f"{result.class_name}: {result.mask.mean():.1%} of the image, predicted IoU {result.score:.2f}"
        + (f", presence {result.presence:.2f}" if result.presence is not None else "")
        for result in results
    )
    segmentation.message = f"{found}."
    if segmentation.text_only:
        segmentation.message += f" {hint} This model has no presence answer: every class name is shown."
    return segmentation


class SessionPredictors:
    """One [`SamPtxPredictor`] per page session (browser tab), so that each keeps its own image and classes.

    Args:
        model, processor: As for [`SamPtxPredictor`].
        max_sessions: Sessions kept at once; the least recently active one is dropped beyond it (its next click
            encodes the image again).
        max_cache_bytes: The memory each session's predictor may hold.
    """

    def __init__(
        self, model: Any, processor: Any = None, max_sessions: int = 8, max_cache_bytes: int = 256 * 2**20
    ) -> None:
        self.model, self.processor = model, processor
        self.max_sessions, self.max_cache_bytes = max_sessions, max_cache_bytes
        self._predictors: OrderedDict[str, SamPtxPredictor] = OrderedDict()

    def get(self, session: str | None) -> SamPtxPredictor:
        """The predictor of `session` (Gradio's `request.session_hash`), made on its first use."""
        key = session or ""
        if key not in self._predictors:
            self._predictors[key] = SamPtxPredictor(self.model, self.processor, max_cache_bytes=self.max_cache_bytes)
            while len(self._predictors) > self.max_sessions:
                self._predictors.popitem(last=False)
        self._predictors.move_to_end(key)
        return self._predictors[key]

    def drop(self, session: str | None) -> None:
        """Forget `session`'s predictor (the page calls this when the tab closes)."""
        self._predictors.pop(session or "", None)

    def __len__(self) -> int:
        return len(self._predictors)


__all__ = [
    "MAX_CLASS_NAMES",
    "MAX_IMAGE_SIDE",
    "PROMPT_MODES",
    "DemoInputError",
    "DemoSegmentation",
    "Prompts",
    "SessionPredictors",
    "draw_prompts",
    "parse_class_names",
    "prepare_image",
    "segment_classes",
]
