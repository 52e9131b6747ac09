"""SAM-PTx's pre- and post-processing in numpy and PIL, for deployments without torch and transformers.

What [`SamPtxProcessor.from_model`] does for each base, computed the same way:

- SAM: the longest side resized to the input size (PIL's bilinear resize of the 8-bit image, as transformers'
  `SamImageProcessorPil`), rescaled to 0..1, normalised, padded bottom-right with zeros to a square.
- SAM 2: resized to the square input (torch's antialiased bilinear resize, rounded to 8 bits, as
  [`Sam2TorchImageProcessor`]), rescaled, normalised; no padding.
- Points and boxes: `(x, y)` pixels of the original image scaled to the resized image.
- Masks: the decoder's low-resolution logits upsampled with torch's bilinear interpolation (`align_corners=False`, no
  antialias): SAM to the padded input, cropped to the resized image, then to the original size; SAM 2 straight to the
  original size.

This module imports neither torch nor transformers.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..processing import input_checks
from ..processing.input_checks import check_point_labels

# ---------------------------------------------------------------------------------------------------- images


def resized_shape(original_size: Sequence[int], image_size: int, pad: bool) -> tuple[int, int]:
    """`(height, width)` of the resized image: SAM (`pad=True`) keeps the aspect ratio with the longest side at
    `image_size` (rounded as `SamImageProcessor`); SAM 2 stretches to `image_size` x `image_size`."""
    if not pad:
        return image_size, image_size
    height, width = original_size
    scale = image_size * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def check_image_size(image_size: Sequence[int], input_size: int, pad: bool, name: str = "image") -> None:
    """Refuse an image the model cannot take, with `SamPtxProcessor.check_image_size`'s messages: an empty one, or
    for SAM (`pad=True`) one so elongated that its short side would be resized to 0 pixels.

    Raises:
        ValueError: Naming the image's size and the size or aspect ratio expected.
    """
    height, width = (int(side) for side in image_size)
    if height < 1 or width < 1:
        raise ValueError(f"{name} is {width}x{height} pixels, expected an image of at least 1x1 pixel")
    if pad and min(height, width) * input_size / max(height, width) < 0.5:
        raise ValueError(
            f"{name} is {width}x{height} pixels: with its long side resized to the model's {input_size} px its short "
            f"side would be 0 px; expected an aspect ratio of at most {2 * input_size}:1 (crop the image)"
        )


def preprocess_image(
    image: Image.Image,
    image_size: int,
    image_mean: Sequence[float],
    image_std: Sequence[float],
    rescale_factor: float = 1 / 255,
    pad: bool = True,
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """One RGB image → the model's `pixel_values`, as the base's image processor prepares it.

    Args:
        image: An RGB PIL image (see [`load_image`]).
        image_size: The model's square input side.
        image_mean, image_std: Per-channel normalisation of the rescaled image.
        rescale_factor: From 0..255 to 0..1.
        pad: SAM's processing (longest side resized, PIL bilinear, zero padding bottom-right) when True; SAM 2's
            (stretched to the square with torch's antialiased bilinear, rounded to 8 bits) when False.

    Returns:
        `pixel_values` `(1, 3, image_size, image_size)` float32, the original `(height, width)` and the resized
        `(height, width)` (the processors' `original_sizes` and `reshaped_input_sizes`).
    """
    original_size = (image.height, image.width)
    height, width = resized_shape(original_size, image_size, pad)
    if pad:  # SamImageProcessorPil: PIL resize of the uint8 image, rescale in float64, normalise in float32
        resized = np.asarray(image.resize((width, height), resample=Image.Resampling.BILINEAR), dtype=np.uint8)
        pixels = np.moveaxis(resized, -1, 0).astype(np.float64) * rescale_factor  # (3, height, width)
        pixels = pixels.astype(np.float32)
        mean = np.asarray(image_mean, dtype=np.float32)[:, None, None]
        std = np.asarray(image_std, dtype=np.float32)[:, None, None]
        pixels = (pixels - mean) / std
        padded = np.zeros((3, image_size, image_size), dtype=np.float32)
        padded[:, :height, :width] = pixels
        pixels = padded
    else:  # Sam2TorchImageProcessor: float32 antialiased resize, rounded, rescaled and normalised in float32
        pixels = np.moveaxis(np.asarray(image, dtype=np.float32), -1, 0)  # (3, h, w), 0..255
        if pixels.shape[-2:] != (height, width):
            pixels = np.clip(np.round(interpolate_bilinear(pixels, (height, width), antialias=True)), 0, 255)
        mean = np.asarray(image_mean, dtype=np.float32)[:, None, None]
        std = np.asarray(image_std, dtype=np.float32)[:, None, None]
        pixels = (pixels * np.float32(rescale_factor) - mean) / std
    return pixels[None].astype(np.float32), original_size, (height, width)


# ---------------------------------------------------------------------------------------------------- interpolation


def _bilinear_matrix(input_size: int, output_size: int) -> np.ndarray:
    """`(output_size, input_size)` weights of torch's 1-D bilinear resize (`align_corners=False`, no antialias):
    each output reads its two nearest inputs, the source index clamped at 0 and the upper neighbour at the last."""
    scale = input_size / output_size
    rows = np.arange(output_size)
    source = np.maximum(scale * (rows + 0.5) - 0.5, 0.0)
    lower = np.minimum(np.floor(source).astype(np.int64), input_size - 1)
    upper = np.minimum(lower + 1, input_size - 1)
    fraction = source - lower
    weights = np.zeros((output_size, input_size), dtype=np.float64)
    np.add.at(weights, (rows, lower), 1.0 - fraction)
    np.add.at(weights, (rows, upper), fraction)
    return weights


def _antialias_taps(input_size: int, output_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The inputs `(output_size, taps)` and float32 weights of torch's antialiased 1-D bilinear resize (its port of
    PIL's filter), computed in float32 as torch computes them: a shrink averages a triangle window as wide as the
    scale, an enlargement is the bilinear kernel renormalised at the borders. Unused taps have weight 0."""
    f32 = np.float32
    scale = f32(input_size) / f32(output_size)
    support = scale if scale >= 1 else f32(1.0)
    invscale = f32(1.0) / scale if scale >= 1 else f32(1.0)
    starts, windows = [], []
    for row in range(output_size):
        center = scale * f32(row + 0.5)
        start = max(int(center - support + f32(0.5)), 0)
        size = min(int(center + support + f32(0.5)), input_size) - start
        offsets = (np.arange(size, dtype=f32) + f32(start) - center + f32(0.5)) * invscale
        window = np.maximum(f32(0.0), f32(1.0) - np.abs(offsets)).astype(f32)
        total = f32(0.0)
        for weight in window:  # torch sums in order, in float32
            total = f32(total + weight)
        starts.append(start)
        windows.append((window / total).astype(f32) if total != 0 else window)
    taps = max(len(window) for window in windows)
    indices = np.minimum(np.asarray(starts)[:, None] + np.arange(taps), input_size - 1)
    weights = np.stack([np.pad(window, (0, taps - len(window))) for window in windows]).astype(f32)
    return indices, weights


def _resize_last_axis_antialias(values: np.ndarray, output_size: int) -> np.ndarray:
    """One antialiased pass along the last axis: float32 taps accumulated in order, each step rounded once (the
    fused multiply-add of torch's CPU kernel)."""
    indices, weights = _antialias_taps(values.shape[-1], output_size)
    total = (values[..., indices[:, 0]] * weights[:, 0]).astype(np.float32)
    for tap in range(1, weights.shape[1]):
        step = values[..., indices[:, tap]].astype(np.float64) * weights[:, tap].astype(np.float64)
        total = (total.astype(np.float64) + step).astype(np.float32)
    return total


def interpolate_bilinear(array: np.ndarray, size: Sequence[int], antialias: bool = False) -> np.ndarray:
    """Resize the last two axes of `array` to `size` as `torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False, antialias=antialias)` does on the CPU, as float32 (equal up to float rounding).

    Args:
        array: `(..., height, width)` values.
        size: `(height, width)` of the output.
        antialias: torch's antialiased resize (SAM 2's image resize), width first then height, as torch runs it.
    """
    height, width = (int(side) for side in size)
    if antialias:
        values = np.asarray(array, dtype=np.float32)
        if values.shape[-1] != width:
            values = _resize_last_axis_antialias(values, width)
        if values.shape[-2] != height:
            values = np.swapaxes(_resize_last_axis_antialias(np.swapaxes(values, -1, -2), height), -1, -2)
        return np.ascontiguousarray(values)
    values = np.asarray(array, dtype=np.float64)
    rows = _bilinear_matrix(values.shape[-2], height)  # (height, in_height)
    columns = _bilinear_matrix(values.shape[-1], width)  # (width, in_width)
    return (rows @ values @ columns.T).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- prompts


def scale_coordinates(
    coords: Any, original_size: Sequence[int], reshaped_size: Sequence[int], pad_value: float | None = None
) -> np.ndarray:
    """`(x, y)` pairs in the last axis (points, or boxes as x1, y1, x2, y2) from pixels of the original image to the
    resized image's frame, float32; pairs equal to `pad_value` on both coordinates are kept as they are."""
    array = np.array(coords, dtype=np.float64)
    pairs = array.reshape(*array.shape[:-1], -1, 2)
    scaled = pairs * np.array([reshaped_size[1] / original_size[1], reshaped_size[0] / original_size[0]])
    if pad_value is not None:
        scaled[np.all(pairs == pad_value, axis=-1)] = pad_value
    return scaled.reshape(array.shape).astype(np.float32)


def upscale_masks(
    low_res_masks: np.ndarray, original_size: Sequence[int], reshaped_size: Sequence[int], pad_size: int | None
) -> np.ndarray:
    """Low-resolution mask logits → logits at the original image size, as the base's `post_process_masks`.

    Args:
        low_res_masks: `(..., size, size)` logits of the decoder.
        original_size, reshaped_size: `(height, width)` of the image and of its resized version.
        pad_size: SAM's padded input side (the logits are upsampled to it and cropped to `reshaped_size` first);
            None for SAM 2, which does not pad.

    Returns:
        `(..., height, width)` float32 logits.
    """
    masks = np.asarray(low_res_masks, dtype=np.float32)
    if pad_size is not None:
        masks = interpolate_bilinear(masks, (pad_size, pad_size))[..., : reshaped_size[0], : reshaped_size[1]]
    return interpolate_bilinear(masks, original_size)


# ---------------------------------------------------------------------------------------------------- checks


def check_points(points: Any, point_labels: Any, image_size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Points inside the image and their labels (1 by default), as `SamPtxProcessor` checks them
    (`samptx_hf.processing.input_checks`).

    Returns:
        `(points, 2)` float64 pixels and `(points,)` int64 labels.

    Raises:
        ValueError: On points that are not a non-empty list of `[x, y]`, a point outside the image, a label count
            other than the point count, or labels other than 0 and 1.
    """
    array = np.asarray(input_checks.check_points(points, tuple(image_size)), dtype=np.float64)
    labels = [1] * len(array) if point_labels is None else point_labels
    return array, np.asarray(check_point_labels(labels, len(array)), dtype=np.int64)


__all__ = [
    "check_image_size",
    "check_points",
    "interpolate_bilinear",
    "preprocess_image",
    "resized_shape",
    "scale_coordinates",
    "upscale_masks",
]
