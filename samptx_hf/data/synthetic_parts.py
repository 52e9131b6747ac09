"""The built-in task, where the class name decides what lies under the point: a whole object or its part.

Every image holds a few composite objects. A composite is a *body* (a shape painted in a body colour) holding, at
its centre, a *part* (a smaller shape painted in a part colour). Class names are colours: a body colour names the
whole composite, a part colour names only its part. A sample points at the centre of one composite (the point lies
on the part, so it is the same point for both readings) and names one of its two colours; the target is the whole
composite or its part. This is SAM's own whole/part ambiguity, decided by the name: from the image and the point
alone, "always the whole" or "always the part" is the best a text-blind model can do (`TEXT_BLIND_STRATEGIES` names
the dataset columns that hold both answers; `samptx_hf.evaluation.evaluate_model.score_reference_masks` scores them).
Without a
point, a text-blind model answers every name alike: every composite, or every part (`TEXT_ONLY_TEXT_BLIND_STRATEGIES`,
scored against `class_mask`), and "present" for every name.

Colours are jittered per object, every region carries a faint random texture, and with `background="camouflage"`
the background is made of blobs in the objects' own colours, so the name must be read from the pixels of the
pointed object, not from the image as a whole.

Without a point, a name is read over the whole image ("segment every red object"): its target, the `class_mask`
column, is the union of every region the name names (a body colour: every composite of that body colour, whole; a
part colour: every part of that colour), and `present_classes` lists the names with such a region in the image.

`generate_object_sample` draws the class-agnostic images the built-in tiny SAM was pretrained on (plain objects of
random colours; the target is the object under the point), as real SAM is pretrained before SAM-PTx sees a class.

Samples are generated on the fly from `(seed, index)` with numpy: sample `i` of a seed never depends on how many
samples are drawn, and a held-out split is simply another seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import datasets
import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from .conversion import encode_mask_png, segmentation_features
from .synthetic_attributes import (
    SYNTHETIC_SHAPES,
    SYNTHETIC_TEXTURES,
    _encode_png,
    _shape_mask,
    _texture,
    seeded_splits,
)

# RGB, 0-255. Bodies and parts never share a colour: the name alone says "whole" or "part".
BODY_COLOURS = {"red": (205, 45, 40), "blue": (40, 75, 215), "white": (235, 235, 235)}
PART_COLOURS = {"yellow": (235, 205, 35), "green": (45, 170, 65), "black": (25, 25, 25)}
PARTS_CLASS_NAMES = tuple(BODY_COLOURS) + tuple(PART_COLOURS)
# The text-blind answers, as dataset columns: what a model that ignores the class name can at best predict.
TEXT_BLIND_STRATEGIES = {"always the whole object": "object_mask", "always the part": "point_mask"}
# The same without a point, against `class_mask`: a text-blind model answers every name alike.
TEXT_ONLY_TEXT_BLIND_STRATEGIES = {
    "every composite, whatever the name": "all_objects_mask",
    "every part, whatever the name": "all_parts_mask",
}
_BACKGROUNDS = ("flat", "camouflage")


@dataclass
class SyntheticPartsConfig:
    """Configuration of the whole-or-part task.

    Args:
        image_size (`int`, defaults to 128):
            Side of the square images, in pixels (at least 32).
        num_objects (`tuple[int, int]`, defaults to `(2, 4)`):
            Range (inclusive) of composites per image. They sit in distinct cells of a 2x2 grid (3x3 above 4).
        body_colours (`tuple[str, ...]`, defaults to all of `BODY_COLOURS`):
            Colours a body can have, at least one; each is a class name meaning "the whole object".
        part_colours (`tuple[str, ...]`, defaults to all of `PART_COLOURS`):
            Colours a part can have, at least one; each is a class name meaning "only the part".
        body_radius (`tuple[float, float]`, defaults to `(0.3, 0.45)`):
            Range of the body radius, as a fraction of the grid cell side.
        part_radius (`tuple[float, float]`, defaults to `(0.3, 0.42)`):
            Range of the part radius, as a fraction of the body radius (below 0.43 every part fits in every body).
        colour_jitter (`float`, defaults to 20.0):
            Per-object uniform jitter of each RGB channel, in 0-255 units.
        texture_strength (`float`, defaults to 0.12):
            Amplitude of the faint texture of every region (a random one of the old task's textures), in [0, 1].
        background (`str`, defaults to `"flat"`):
            `"flat"` (a random grey) or `"camouflage"` (blobs in the task's own colours).
        pixel_noise (`float`, defaults to 0.03):
            Standard deviation of the Gaussian noise added to every pixel, in [0, 1] intensity units.
        part_probability (`float`, defaults to 0.5):
            Probability that a sample names the part rather than the whole.
    """

    image_size: int = field(default=128, metadata={"help": "Side of the square images, in pixels."})
    num_objects: tuple[int, int] = field(default=(2, 4), metadata={"help": "Range of composites per image."})
    body_colours: tuple[str, ...] = field(default=tuple(BODY_COLOURS), metadata={"help": "Body colours."})
    part_colours: tuple[str, ...] = field(default=tuple(PART_COLOURS), metadata={"help": "Part colours."})
    body_radius: tuple[float, float] = field(default=(0.3, 0.45), metadata={"help": "Body radius / cell side."})
    part_radius: tuple[float, float] = field(default=(0.3, 0.42), metadata={"help": "Part radius / body radius."})
    colour_jitter: float = field(default=20.0, metadata={"help": "Per-object RGB jitter, 0-255 units."})
    texture_strength: float = field(default=0.12, metadata={"help": "Amplitude of the faint region textures."})
    background: str = field(default="flat", metadata={"help": "'flat' or 'camouflage'."})
    pixel_noise: float = field(default=0.03, metadata={"help": "Std of the per-pixel Gaussian noise."})
    part_probability: float = field(default=0.5, metadata={"help": "Probability that a sample names the part."})

    def __post_init__(self) -> None:
        self.body_colours, self.part_colours = tuple(self.body_colours), tuple(self.part_colours)
        self.num_objects = tuple(self.num_objects)
        if self.image_size < 32:
            raise ValueError(f"image_size={self.image_size}, expected at least 32")
        if len(self.num_objects) != 2 or not 1 <= self.num_objects[0] <= self.num_objects[1] <= 9:
            raise ValueError(f"num_objects={self.num_objects}, expected (low, high) with 1 <= low <= high <= 9")
        for name, values, known in (
            ("body_colours", self.body_colours, BODY_COLOURS),
            ("part_colours", self.part_colours, PART_COLOURS),
        ):
            unknown = [value for value in values if value not in known]
            if unknown or not values or len(set(values)) != len(values):
                raise ValueError(f"{name}={values}, expected distinct values among {tuple(known)}")
        if not 0 < self.body_radius[0] <= self.body_radius[1] <= 0.5:
            raise ValueError(f"body_radius={self.body_radius}, expected 0 < low <= high <= 0.5")
        if not 0 < self.part_radius[0] <= self.part_radius[1] < 0.43:
            raise ValueError(f"part_radius={self.part_radius}, expected 0 < low <= high < 0.43 (the part must fit)")
        if not 0 <= self.texture_strength <= 1:
            raise ValueError(f"texture_strength={self.texture_strength}, expected a value in [0, 1]")
        if not 0 <= self.part_probability <= 1:
            raise ValueError(f"part_probability={self.part_probability}, expected a value in [0, 1]")
        if self.background not in _BACKGROUNDS:
            raise ValueError(f"background={self.background!r}, expected one of {_BACKGROUNDS}")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The class names of this task: its body colours (whole object), then its part colours (part only)."""
        return self.body_colours + self.part_colours


@dataclass
class PartsComposite:
    """One composite of an image: its two names and its boolean `(height, width)` masks (`part_mask` lies inside
    `object_mask`, which is the whole composite)."""

    body_colour: str
    part_colour: str
    object_mask: np.ndarray
    part_mask: np.ndarray


@dataclass
class PartsSample:
    """One sample: `(height, width, 3)` uint8 image, boolean target, class name, and the pointed composite.

    `object_mask` is the whole pointed composite and `part_mask` its part: the target is one of them (`names_part`
    says which), and prompt points are drawn from `part_mask`, which both readings contain. `body_colour` and
    `part_colour` are the composite's two names (`class_name` is one of them). `composites` holds every composite of
    the image, the pointed one included, in drawing order.
    """

    image: np.ndarray
    mask: np.ndarray
    class_name: str
    names_part: bool
    object_mask: np.ndarray
    part_mask: np.ndarray
    body_colour: str
    part_colour: str
    composites: tuple[PartsComposite, ...]

    @property
    def present_classes(self) -> list[str]:
        """The class names with a region in the image: body colours first, then part colours, each once."""
        bodies = dict.fromkeys(composite.body_colour for composite in self.composites)
        parts = dict.fromkeys(composite.part_colour for composite in self.composites)
        return list(bodies) + list(parts)

    def class_mask(self, class_name: str | None = None) -> np.ndarray:
        """The boolean `(height, width)` union of every region `class_name` (defaults to the sample's) names: every
        composite whose body colour it is (whole), every part of its colour. Empty for a name absent from the image.

        Raises:
            ValueError: if `class_name` is neither a body nor a part colour.
        """
        class_name = self.class_name if class_name is None else class_name
        if class_name not in BODY_COLOURS and class_name not in PART_COLOURS:
            raise ValueError(f"class_name={class_name!r}, expected a colour among {PARTS_CLASS_NAMES}")
        union = np.zeros(self.mask.shape, dtype=bool)
        for composite in self.composites:
            if composite.body_colour == class_name:
                union |= composite.object_mask
            elif composite.part_colour == class_name:
                union |= composite.part_mask
        return union


def _grid(num_objects: int) -> int:
    return 2 if num_objects <= 4 else 3


def _placement(rng: np.random.Generator, size: int, grid: int, cell_index: int, radius_range: tuple[float, float]):
    """Centre `(cx, cy)` and radius of an object inside its grid cell (it never leaves the cell)."""
    cell = size / grid
    row, col = divmod(int(cell_index), grid)
    radius = rng.uniform(*radius_range) * cell
    slack = max(cell / 2 - 1.15 * radius, 0.0)  # 1.15: the triangle's and star's reach beyond the radius
    cx = (col + 0.5) * cell + rng.uniform(-slack, slack)
    cy = (row + 0.5) * cell + rng.uniform(-slack, slack)
    return cx, cy, radius


def _rotated_shape(shape: str, xx, yy, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    dx = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
    dy = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
    return _shape_mask(shape, dx, dy, radius)


def _paint(canvas, mask, colour, xx, yy, config, rng) -> None:
    """Paints `mask` of `canvas` (`(h, w, 3)` floats in [0, 1]) in a jittered `colour` with a faint texture."""
    jittered = (np.asarray(colour, np.float32) + rng.uniform(-1, 1, 3) * config.colour_jitter) / 255
    texture = _texture(SYNTHETIC_TEXTURES[rng.integers(len(SYNTHETIC_TEXTURES))], xx, yy, rng.uniform(5, 10), rng)
    shade = 1 + config.texture_strength * (texture[mask] - 0.5)
    canvas[mask] = np.clip(jittered[None] * shade[:, None], 0, 1)


def _background(config, size: int, colours: list, xx, yy, rng) -> np.ndarray:
    if config.background == "flat":
        return np.full((size, size, 3), rng.uniform(0.3, 0.7), dtype=np.float32)
    canvas = np.empty((size, size, 3), dtype=np.float32)
    coarse = rng.standard_normal((size // 8 + 2, size // 8 + 2))
    smooth = ndimage.zoom(coarse, 8, order=1)[:size, :size]
    levels = np.quantile(smooth, np.linspace(0, 1, len(colours) + 1)[1:-1])
    regions = np.digitize(smooth, levels)
    for index, colour in enumerate(colours):
        _paint(canvas, regions == index, colour, xx, yy, config, rng)
    return canvas


def _finish(canvas: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    canvas = canvas + noise * rng.standard_normal(canvas.shape, dtype=np.float32)
    return (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8)


def generate_parts_sample(index: int, seed: int = 0, config: SyntheticPartsConfig | None = None) -> PartsSample:
    """Generates sample `index` of the whole-or-part task for `seed` (deterministic in `(seed, index, config)`).

    Raises:
        ValueError: if `seed` or `index` is negative.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed={seed} and index={index}, expected non-negative integers")
    config = config or SyntheticPartsConfig()
    rng = np.random.default_rng([seed, index, 1])
    size = config.image_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    num_objects = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    grid = _grid(num_objects)
    cells = rng.permutation(grid * grid)[:num_objects]

    palette = [BODY_COLOURS[name] for name in config.body_colours] + [PART_COLOURS[n] for n in config.part_colours]
    canvas = _background(config, size, palette, xx, yy, rng)
    composites = []
    for cell_index in cells:
        body_colour = config.body_colours[rng.integers(len(config.body_colours))]
        part_colour = config.part_colours[rng.integers(len(config.part_colours))]
        cx, cy, body_radius = _placement(rng, size, grid, cell_index, config.body_radius)
        body = _rotated_shape(
            SYNTHETIC_SHAPES[rng.integers(len(SYNTHETIC_SHAPES))], xx, yy, cx, cy, body_radius, rng.uniform(0, 7)
        )
        part_radius = rng.uniform(*config.part_radius) * body_radius
        part = body & _rotated_shape(
            SYNTHETIC_SHAPES[rng.integers(len(SYNTHETIC_SHAPES))], xx, yy, cx, cy, part_radius, rng.uniform(0, 7)
        )
        _paint(canvas, body & ~part, BODY_COLOURS[body_colour], xx, yy, config, rng)
        _paint(canvas, part, PART_COLOURS[part_colour], xx, yy, config, rng)
        composites.append(PartsComposite(body_colour, part_colour, body, part))

    pointed = composites[rng.integers(num_objects)]
    names_part = bool(rng.random() < config.part_probability)
    return PartsSample(
        image=_finish(canvas, config.pixel_noise, rng),
        mask=pointed.part_mask if names_part else pointed.object_mask,
        class_name=pointed.part_colour if names_part else pointed.body_colour,
        names_part=names_part,
        object_mask=pointed.object_mask,
        part_mask=pointed.part_mask,
        body_colour=pointed.body_colour,
        part_colour=pointed.part_colour,
        composites=tuple(composites),
    )


def generate_object_sample(index: int, seed: int = 0, image_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A class-agnostic sample for pretraining a base SAM: `(image, mask)`, the mask one object of the image.

    2 to 6 plain objects of random shapes, sizes and colours (some overlapping, the later one on top) on a flat or
    blobby background; the mask is the visible part of a random object (prompt points are drawn inside it).
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed={seed} and index={index}, expected non-negative integers")
    rng = np.random.default_rng([seed, index, 2])
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
    config = SyntheticPartsConfig(image_size=image_size, background="flat" if rng.random() < 0.5 else "camouflage")
    palette = [tuple(rng.integers(0, 256, 3)) for _ in range(3)]
    canvas = _background(config, image_size, palette, xx, yy, rng)
    labels = np.zeros((image_size, image_size), dtype=np.int32)
    num_objects = int(rng.integers(2, 7))
    for label in range(1, num_objects + 1):
        radius = rng.uniform(0.06, 0.2) * image_size
        cx, cy = rng.uniform(radius, image_size - radius, 2)
        shape = SYNTHETIC_SHAPES[rng.integers(len(SYNTHETIC_SHAPES))]
        mask = _rotated_shape(shape, xx, yy, cx, cy, radius, rng.uniform(0, 7))
        colour = tuple(rng.integers(0, 256, 3))
        _paint(canvas, mask, colour, xx, yy, config, rng)
        labels[mask] = label
    visible = [label for label in range(1, num_objects + 1) if (labels == label).sum() >= 16]
    target = labels == visible[rng.integers(len(visible))] if visible else labels > 0
    return _finish(canvas, config.pixel_noise, rng), target


def make_parts_dataset(
    num_samples: int, seed: int = 0, config: SyntheticPartsConfig | None = None, progress: bool = False
) -> datasets.Dataset:
    """Generates `num_samples` samples of the whole-or-part task as a `datasets.Dataset`.

    Args:
        num_samples (`int`):
            Number of samples (one image each).
        seed (`int`, defaults to 0):
            Seed of the split; use another seed for a held-out split (see `make_parts_splits`).
        config (`SyntheticPartsConfig`, *optional*):
            The task; defaults to `SyntheticPartsConfig()` (128 px, 2-4 composites, 3 body and 3 part colours).

    Returns:
        `datasets.Dataset` with columns `image` (RGB), `mask` (0/255 "L"), `class_name` (a colour), `image_id`
        (`"parts-<seed>-<index>"`), `point_mask` (the part: where prompt points are drawn), `object_mask` (the whole
        pointed composite), `names_part` (bool), `class_mask` (0/255 "L": every region the class name names in the
        image, the target without a point; see `PartsSample.class_mask`) and `present_classes` (list of the
        image's body and part colours), `all_objects_mask` and `all_parts_mask` (every composite, every part: the
        answers of `TEXT_ONLY_TEXT_BLIND_STRATEGIES`), `present_class_masks` (the `class_mask` of each of
        `present_classes`, in order: what the semantic mIoU scores every class of an image against).

        progress (`bool`, defaults to `False`):
            Show a progress bar (tqdm, on stderr) while the samples are generated.

    Raises:
        ValueError: if `num_samples < 1` or `seed < 0`.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples}, expected at least 1")
    features = segmentation_features(
        point_mask=datasets.Image(),
        object_mask=datasets.Image(),
        names_part=datasets.Value("bool"),
        class_mask=datasets.Image(),
        present_classes=datasets.List(datasets.Value("string")),
        all_objects_mask=datasets.Image(),
        all_parts_mask=datasets.Image(),
        present_class_masks=datasets.List(datasets.Image()),
    )
    columns: dict[str, list] = {name: [] for name in features}
    for index in tqdm(range(num_samples), desc="generating samples", unit="sample", disable=not progress):
        sample = generate_parts_sample(index, seed, config)
        columns["image"].append(_encode_png(sample.image))
        columns["mask"].append(encode_mask_png(sample.mask))
        columns["class_name"].append(sample.class_name)
        columns["image_id"].append(f"parts-{seed}-{index:06d}")
        columns["point_mask"].append(encode_mask_png(sample.part_mask))
        columns["object_mask"].append(encode_mask_png(sample.object_mask))
        columns["names_part"].append(sample.names_part)
        columns["class_mask"].append(encode_mask_png(sample.class_mask()))
        columns["present_classes"].append(sample.present_classes)
        columns["present_class_masks"].append([encode_mask_png(sample.class_mask(c)) for c in sample.present_classes])
        columns["all_objects_mask"].append(encode_mask_png(np.any([c.object_mask for c in sample.composites], axis=0)))
        columns["all_parts_mask"].append(encode_mask_png(np.any([c.part_mask for c in sample.composites], axis=0)))
    return datasets.Dataset.from_dict(columns, features=features)


def make_parts_splits(
    num_train: int,
    num_test: int,
    seed: int = 0,
    test_seed: int | None = None,
    config: SyntheticPartsConfig | None = None,
) -> datasets.DatasetDict:
    """A `DatasetDict` with a `"train"` split (seed `seed`) and a held-out `"test"` split (seed `test_seed`,
    defaults to `seed + 1`). Different seeds give independent samples.

    Raises:
        ValueError: if `test_seed == seed` (the held-out split would repeat the training samples).
    """
    return seeded_splits(make_parts_dataset, num_train, num_test, seed, test_seed, config)
