"""A built-in task where the text is needed: textured shapes on a camouflaging background.

Every object has a shape ("circle", "square", ...) and a texture ("striped", "dotted", ...). A sample names
one attribute (`class_name` is a shape or a texture) and its target is every object that has it. Each image
holds at least one target object and, for the other attribute of every target object, a "decoy" object that
shares that other attribute but not the named one. A point inside the target therefore lies on an object that
is also a valid prompt for a different target ("everything striped" vs "every circle"): only the text says
which.

Objects and background are painted with the same two colours and the background pattern has the same mean, so
colour and brightness give nothing away (camouflage): objects stand out only by their texture and outline.

Samples are generated on the fly from `(seed, index)` with numpy: sample `i` of a seed never depends on how
many samples are drawn, and a held-out split is simply another seed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm.auto import tqdm

from .conversion import encode_mask_png, segmentation_features

SYNTHETIC_SHAPES = ("circle", "square", "triangle", "star")
SYNTHETIC_TEXTURES = ("striped", "dotted", "checkered", "noisy")
SYNTHETIC_CLASS_NAMES = SYNTHETIC_SHAPES + SYNTHETIC_TEXTURES
_BACKGROUNDS = ("blobs", "flat")


@dataclass
class SyntheticShapesConfig:
    """Configuration of the synthetic shapes-and-textures task.

    Args:
        image_size (`int`, defaults to 128):
            Side of the square images, in pixels (at least 32).
        num_objects (`int`, defaults to 4):
            Objects per image (at least 2: a target and its decoy). They sit in distinct cells of a
            `ceil(sqrt(num_objects))`-wide grid, so they never overlap.
        shapes (`tuple[str, ...]`, defaults to `SYNTHETIC_SHAPES`):
            Shapes to draw from, at least two of `SYNTHETIC_SHAPES`.
        textures (`tuple[str, ...]`, defaults to `SYNTHETIC_TEXTURES`):
            Textures to draw from, at least two of `SYNTHETIC_TEXTURES`.
        object_radius (`tuple[float, float]`, defaults to `(0.3, 0.45)`):
            Range of the object radius, as a fraction of the grid cell side.
        texture_period (`tuple[float, float]`, defaults to `(6.0, 10.0)`):
            Range of the texture period, in pixels at 128 px (scaled with `image_size`).
        background (`str`, defaults to `"blobs"`):
            `"blobs"` (thresholded smooth noise with the textures' mean and colours: camouflage) or `"flat"`.
        contrast (`float`, defaults to 0.5):
            Difference between the two colours of an image, in [0, 1] intensity units.
        pixel_noise (`float`, defaults to 0.04):
            Standard deviation of the Gaussian noise added to every pixel, in [0, 1] intensity units.
    """

    image_size: int = field(default=128, metadata={"help": "Side of the square images, in pixels."})
    num_objects: int = field(default=4, metadata={"help": "Objects per image, at least 2."})
    shapes: tuple[str, ...] = field(default=SYNTHETIC_SHAPES, metadata={"help": "Shapes to draw from."})
    textures: tuple[str, ...] = field(default=SYNTHETIC_TEXTURES, metadata={"help": "Textures to draw from."})
    object_radius: tuple[float, float] = field(
        default=(0.3, 0.45), metadata={"help": "Object radius range, as a fraction of the grid cell side."}
    )
    texture_period: tuple[float, float] = field(
        default=(6.0, 10.0), metadata={"help": "Texture period range in pixels at 128 px."}
    )
    background: str = field(default="blobs", metadata={"help": "'blobs' (camouflage) or 'flat'."})
    contrast: float = field(default=0.5, metadata={"help": "Difference between the two colours of an image."})
    pixel_noise: float = field(default=0.04, metadata={"help": "Std of the per-pixel Gaussian noise."})

    def __post_init__(self) -> None:
        self.shapes, self.textures = tuple(self.shapes), tuple(self.textures)
        if self.image_size < 32:
            raise ValueError(f"image_size={self.image_size}, expected at least 32")
        if self.num_objects < 2:
            raise ValueError(f"num_objects={self.num_objects}, expected at least 2 (a target and a decoy)")
        for name, values, known in (
            ("shapes", self.shapes, SYNTHETIC_SHAPES),
            ("textures", self.textures, SYNTHETIC_TEXTURES),
        ):
            unknown = [value for value in values if value not in known]
            if unknown or len(set(values)) < 2:
                raise ValueError(f"{name}={values}, expected at least two distinct values among {known}")
        if not 0 < self.object_radius[0] <= self.object_radius[1] <= 0.5:
            raise ValueError(f"object_radius={self.object_radius}, expected 0 < low <= high <= 0.5")
        if not 0 <= self.contrast <= 1:
            raise ValueError(f"contrast={self.contrast}, expected a value in [0, 1]")
        if self.background not in _BACKGROUNDS:
            raise ValueError(f"background={self.background!r}, expected one of {_BACKGROUNDS}")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The class names of this task: its shapes, then its textures."""
        return self.shapes + self.textures


@dataclass
class SyntheticObject:
    """One drawn object: its attributes and its `(height, width)` boolean mask."""

    shape: str
    texture: str
    mask: np.ndarray


@dataclass
class SyntheticSample:
    """One generated sample: `(height, width, 3)` uint8 image, boolean target, class name and objects."""

    image: np.ndarray
    mask: np.ndarray
    class_name: str
    objects: list[SyntheticObject]


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of `shape` centred at the origin of the (already rotated) offsets `dx`, `dy`."""
    if shape == "circle":
        return dx**2 + dy**2 <= radius**2
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.8 * radius
    if shape == "triangle":
        circumradius = 1.15 * radius  # same area scale as the other shapes
        inside = np.ones(dx.shape, dtype=bool)
        for k in range(3):
            normal = math.pi / 2 + k * 2 * math.pi / 3
            inside &= dx * math.cos(normal) + dy * math.sin(normal) <= circumradius / 2
        return inside
    if shape == "star":
        sector = 2 * math.pi / 5
        phase = np.mod(np.arctan2(dy, dx) + math.pi / 2, sector) / sector  # 0 and 1 at the tips
        tip_closeness = np.abs(2 * phase - 1)
        outline = 1.15 * radius * (0.45 + 0.55 * tip_closeness)
        return np.hypot(dx, dy) <= outline
    raise ValueError(f"shape={shape!r}, expected one of {SYNTHETIC_SHAPES}")


def _texture(texture: str, xx: np.ndarray, yy: np.ndarray, period: float, rng: np.random.Generator) -> np.ndarray:
    """A `(height, width)` pattern in {0, 1} with mean about 0.5, randomly oriented and shifted."""
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle) + rng.uniform(0, period)
    v = -xx * math.sin(angle) + yy * math.cos(angle) + rng.uniform(0, period)
    if texture == "striped":
        return (np.mod(u, period) < period / 2).astype(np.float32)
    if texture == "checkered":
        return ((np.mod(u, period) < period / 2) ^ (np.mod(v, period) < period / 2)).astype(np.float32)
    if texture == "dotted":
        du, dv = np.mod(u, period) - period / 2, np.mod(v, period) - period / 2
        return (du**2 + dv**2 <= (0.4 * period) ** 2).astype(np.float32)
    if texture == "noisy":
        height, width = xx.shape
        cells = rng.random((height // 2 + 1, width // 2 + 1)) < 0.5
        return np.repeat(np.repeat(cells, 2, axis=0), 2, axis=1)[:height, :width].astype(np.float32)
    raise ValueError(f"texture={texture!r}, expected one of {SYNTHETIC_TEXTURES}")


def _background(config: SyntheticShapesConfig, rng: np.random.Generator) -> np.ndarray:
    size = config.image_size
    if config.background == "flat":
        return np.full((size, size), 0.5, dtype=np.float32)
    coarse = rng.standard_normal((size // 8 + 2, size // 8 + 2))
    smooth = ndimage.zoom(coarse, 8, order=1)[:size, :size]
    return (smooth > np.median(smooth)).astype(np.float32)


def _draw_attributes(config: SyntheticShapesConfig, rng: np.random.Generator) -> tuple[str, list[tuple[str, str]]]:
    """Picks the class and the (shape, texture) of every object so that the point alone is ambiguous.

    Object 0 has the named attribute; object 1 (the decoy) shares object 0's other attribute but not the named
    one. Every further object either lacks the named attribute, or has it together with object 0's other
    attribute, so the decoy serves every target object.
    """
    class_name = config.class_names[rng.integers(len(config.class_names))]
    named_is_shape = class_name in config.shapes
    named_values, other_values = (
        (config.shapes, config.textures) if named_is_shape else (config.textures, config.shapes)
    )
    not_named = [value for value in named_values if value != class_name]

    other = other_values[rng.integers(len(other_values))]
    pairs = [(class_name, other), (not_named[rng.integers(len(not_named))], other)]
    for _ in range(config.num_objects - 2):
        named = named_values[rng.integers(len(named_values))]
        pairs.append((named, other if named == class_name else other_values[rng.integers(len(other_values))]))
    attributes = [pair if named_is_shape else pair[::-1] for pair in pairs]  # -> (shape, texture)
    return class_name, attributes


def generate_synthetic_sample(
    index: int, seed: int = 0, config: SyntheticShapesConfig | None = None
) -> SyntheticSample:
    """Generates sample `index` of the synthetic task for `seed` (deterministic in `(seed, index, config)`).

    Raises:
        ValueError: if `seed` or `index` is negative.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed={seed} and index={index}, expected non-negative integers")
    config = config or SyntheticShapesConfig()
    rng = np.random.default_rng([seed, index])
    size = config.image_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    scale = size / 128

    class_name, attributes = _draw_attributes(config, rng)
    grid = math.ceil(math.sqrt(config.num_objects))
    cell = size / grid
    cells = rng.permutation(grid * grid)[: config.num_objects]

    pattern = _background(config, rng)
    objects = []
    for (shape, texture), cell_index in zip(attributes, cells, strict=True):
        # Everything is drawn inside the object's grid cell only: objects never leave their cell.
        row, col = divmod(int(cell_index), grid)
        y0, y1 = round(row * cell), round((row + 1) * cell)  # adjacent windows share no pixel
        x0, x1 = round(col * cell), round((col + 1) * cell)
        cell_yy, cell_xx = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
        radius = rng.uniform(*config.object_radius) * cell
        slack = cell / 2 - radius
        cx = (col + 0.5) * cell + rng.uniform(-slack, slack)
        cy = (row + 0.5) * cell + rng.uniform(-slack, slack)
        angle = rng.uniform(0, 2 * math.pi)
        dx = (cell_xx - cx) * math.cos(angle) + (cell_yy - cy) * math.sin(angle)
        dy = -(cell_xx - cx) * math.sin(angle) + (cell_yy - cy) * math.cos(angle)
        cell_mask = _shape_mask(shape, dx, dy, radius)
        period = rng.uniform(*config.texture_period) * scale
        cell_pattern = pattern[y0:y1, x0:x1]
        cell_pattern[cell_mask] = _texture(texture, cell_xx, cell_yy, period, rng)[cell_mask]
        mask = np.zeros((size, size), dtype=bool)
        mask[y0:y1, x0:x1] = cell_mask
        objects.append(SyntheticObject(shape=shape, texture=texture, mask=mask))

    base = rng.uniform(config.contrast / 2, 1 - config.contrast / 2, size=3).astype(np.float32)
    image = (base - config.contrast / 2) + config.contrast * pattern[..., None]
    image += config.pixel_noise * rng.standard_normal(image.shape, dtype=np.float32)
    image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)

    target = np.zeros((size, size), dtype=bool)
    for obj in objects:
        if class_name in (obj.shape, obj.texture):
            target |= obj.mask
    return SyntheticSample(image=image, mask=target, class_name=class_name, objects=objects)


def _encode_png(image: np.ndarray) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return {"bytes": buffer.getvalue(), "path": None}


def make_synthetic_dataset(
    num_samples: int, seed: int = 0, config: SyntheticShapesConfig | None = None, progress: bool = False
) -> datasets.Dataset:
    """Generates `num_samples` samples of the synthetic task as a `datasets.Dataset`.

    Args:
        num_samples (`int`):
            Number of samples (one image each).
        seed (`int`, defaults to 0):
            Seed of the split; use another seed for a held-out split (see `make_synthetic_splits`).
        config (`SyntheticShapesConfig`, *optional*):
            The task; defaults to `SyntheticShapesConfig()` (128 px, 4 objects, 4 shapes x 4 textures).

    Returns:
        `datasets.Dataset` with columns `image` (RGB), `mask` (0/255 "L"), `class_name` (a shape or a
        texture), `image_id` (`"synthetic-<seed>-<index>"`), `object_shapes` and `object_textures` (per
        object) and `present_classes` (the shapes, then the textures, of the image's objects, each once). The
        `mask` is already every object with the named attribute, so it is also the target without a point.

        progress (`bool`, defaults to `False`):
            Show a progress bar (tqdm, on stderr) while the samples are generated.

    Raises:
        ValueError: if `num_samples < 1` or `seed < 0`.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples}, expected at least 1")
    features = segmentation_features(
        object_shapes=datasets.Sequence(datasets.Value("string")),
        object_textures=datasets.Sequence(datasets.Value("string")),
        present_classes=datasets.List(datasets.Value("string")),
    )
    columns: dict[str, list] = {name: [] for name in features}
    for index in tqdm(range(num_samples), desc="generating samples", unit="sample", disable=not progress):
        sample = generate_synthetic_sample(index, seed, config)
        columns["image"].append(_encode_png(sample.image))
        columns["mask"].append(encode_mask_png(sample.mask))
        columns["class_name"].append(sample.class_name)
        columns["image_id"].append(f"synthetic-{seed}-{index:06d}")
        columns["object_shapes"].append([obj.shape for obj in sample.objects])
        columns["object_textures"].append([obj.texture for obj in sample.objects])
        columns["present_classes"].append(
            list(dict.fromkeys([obj.shape for obj in sample.objects] + [obj.texture for obj in sample.objects]))
        )
    return datasets.Dataset.from_dict(columns, features=features)


def make_synthetic_splits(
    num_train: int,
    num_test: int,
    seed: int = 0,
    test_seed: int | None = None,
    config: SyntheticShapesConfig | None = None,
) -> datasets.DatasetDict:
    """A `DatasetDict` with a `"train"` split (seed `seed`) and a held-out `"test"` split (seed `test_seed`,
    defaults to `seed + 1`). Different seeds give independent samples.

    Raises:
        ValueError: if `test_seed == seed` (the held-out split would repeat the training samples).
    """
    return seeded_splits(make_synthetic_dataset, num_train, num_test, seed, test_seed, config)


def seeded_splits(
    make_dataset: Callable[..., datasets.Dataset],
    num_train: int,
    num_test: int,
    seed: int,
    test_seed: int | None,
    config: Any,
) -> datasets.DatasetDict:
    """`"train"` from `make_dataset(num_train, seed, config)` and `"test"` from seed `test_seed` (default
    `seed + 1`): the splits of a generated task. Raises `ValueError` if the two seeds are equal."""
    test_seed = seed + 1 if test_seed is None else test_seed
    if test_seed == seed:
        raise ValueError(f"test_seed={test_seed} equals seed: the held-out split needs its own seed")
    return datasets.DatasetDict(
        {"train": make_dataset(num_train, seed, config), "test": make_dataset(num_test, test_seed, config)}
    )
