"""What a user passes in, checked without torch, transformers or datasets: images, prompts and thresholds.

The PyTorch API (`segment`, the predictor, the pipeline, the CLI) and the onnxruntime predictor
(`samptx_hf.onnx.OnnxPredictor`, which runs where torch is not installed) read images and check prompts and thresholds
with these same functions, so both accept the same inputs and answer bad ones with the same messages.
"""

import hashlib
import math
import numbers
import os
import tempfile
from typing import Any

import numpy as np
from PIL import Image

from .class_prompts import check_class_names

# SAM's (and SAM 2's) point labels besides 1 (foreground) and 0 (background): the prompt encoder ignores a padding
# point; "not a point" is the prompt of a class name alone (the text, no point).
POINT_PAD_LABEL = -10
NOT_A_POINT_LABEL = -1


def load_image(image: str | os.PathLike | Image.Image | np.ndarray) -> Image.Image:
    """An 8-bit RGB PIL image from a path, a PIL image, or a `(height, width[, 3])` uint8 array.

    16-bit and float grayscale images are scaled to 0..255 (see [`to_rgb`]), not clipped.

    Raises:
        FileNotFoundError: When the path does not exist.
        ValueError: When the path is a folder or a file PIL cannot read, the array is not uint8 or has another shape,
            or `image` is of another type (a `torch.Tensor`, for instance).
    """
    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
            raise ValueError(f"an image array must have shape (height, width[, 3]), got {image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(
                f"an image array must have dtype uint8 (0..255), got {image.dtype}; convert a [0, 1] float image "
                "with (image * 255).round().astype(np.uint8)"
            )
        return Image.fromarray(image).convert("RGB")
    if not isinstance(image, str | os.PathLike):
        hint = " (for a (3, height, width) tensor: Image.fromarray(tensor.permute(1, 2, 0).numpy()))"
        raise ValueError(
            f"image is a {type(image).__module__}.{type(image).__name__}, expected a file path, a PIL image or a "
            f"(height, width[, 3]) uint8 numpy array" + (hint if type(image).__name__ == "Tensor" else "")
        )
    if os.path.isdir(image):
        raise ValueError(f"image {os.fspath(image)!r} is a folder, expected an image file")
    if not os.path.isfile(image):
        raise FileNotFoundError(f"image file {os.fspath(image)!r} does not exist")
    try:
        with Image.open(image) as opened:
            return to_rgb(opened)
    except (OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"cannot read {os.fspath(image)!r} as an image: {error}") from error


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of a PIL image of any mode.

    PIL's own `convert("RGB")` clips 16-bit, 32-bit and float grayscale to 255, which turns a 16-bit PNG white;
    here such images are scaled to 0..255 instead: `I;16*` by 65535, `I` by 65535 when a value exceeds 255, `F` by
    1 when every value is in [0, 1] (else clipped to 0..255).
    """
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image.convert("RGB")
    values = np.asarray(image, dtype=np.float64)  # (height, width)
    if image.mode.startswith("I;16") or (image.mode == "I" and values.size and values.max() > 255):
        values = values * (255 / 65535)
    elif image.mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
        values = values * 255
    return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), mode="L").convert("RGB")


def check_output_path(
    path: str | os.PathLike, name: str, expected: str = "a folder (created if missing)", is_file: bool = False
) -> None:
    """Refuse an output `path` that could not be written, before the work that writes it: a file where a folder is
    expected (or a folder where a file is), a path under a file, or one under a folder this process cannot write
    into (a read-only folder, `/proc`). Creates nothing: a probe file is made and removed in the nearest existing
    folder.

    Args:
        path: The folder (or, with `is_file`, the file) to be written.
        name: How the caller's users name it, e.g. `"--output-dir"`.
        expected: What `path` should be, for the message.
        is_file: Whether `path` is a file to write (its folder is created if missing).

    Raises:
        ValueError: `"{name} {path!r} ..., expected {expected}"`, saying what is in the way.
    """
    shown = os.fspath(path)
    full = os.path.abspath(shown)
    if os.path.isdir(full) and is_file:
        raise ValueError(f"{name} {shown!r} is a folder, expected {expected}")
    existing = full if not is_file else os.path.dirname(full)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is a file" if existing == full else f"lies under the file {existing!r}"
        raise ValueError(f"{name} {shown!r} {what}, expected {expected}")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(
            f"{name} {shown!r} cannot be written: {existing!r} does not take new files ({error.strerror}), "
            f"expected {expected} in a writable folder"
        ) from None


def image_fingerprint(image: Image.Image) -> str:
    """A key of an image's pixels and size: equal images (wherever they came from) have equal keys. The caches of
    `SamPtxPredictor` and the pipeline find an image they encoded before by it."""
    return hashlib.sha256(np.asarray(image).tobytes()).hexdigest() + f"-{image.width}x{image.height}-{image.mode}"


def check_threshold(threshold: Any, name: str = "threshold") -> float:
    """`threshold`, a mask logit, as a float: every public call that binarises masks checks it before any work.

    Raises:
        TypeError: When it is not a real number (a string such as `"0.5"`, a bool, a tensor).
        ValueError: When it is NaN (no pixel would be in the mask and none out of it, silently).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(
            f"{name}={threshold!r} is a {type(threshold).__name__}, expected a real number: the mask logit above which "
            "a pixel is in the mask (0.0 is probability 0.5)"
        )
    if math.isnan(threshold):
        raise ValueError(f"{name} is NaN, expected a real number: the mask logit above which a pixel is in the mask")
    return float(threshold)


def check_presence_threshold(presence_threshold: Any, name: str = "presence_threshold") -> float:
    """`presence_threshold`, a probability, as a float: the presence (sigmoid of the presence head's logit) below
    which a class is absent and its masks empty. Every public call that reads the presence answer checks it first.

    Raises:
        TypeError: When it is not a real number (a string such as `"0.5"`, a bool, a tensor).
        ValueError: When it is NaN or outside [0, 1].
    """
    if isinstance(presence_threshold, bool) or not isinstance(presence_threshold, numbers.Real):
        raise TypeError(
            f"{name}={presence_threshold!r} is a {type(presence_threshold).__name__}, expected a real number in "
            "[0, 1]: the presence probability below which a class is absent"
        )
    if not 0.0 <= presence_threshold <= 1.0:  # also false for NaN
        raise ValueError(
            f"{name}={presence_threshold!r}, expected a probability in [0, 1]: the presence below which a class is "
            "absent (0.5 by default)"
        )
    return float(presence_threshold)


def check_bool(value: Any, name: str) -> bool:
    """`value` when it is a bool (or a numpy bool): a flag such as `multimask_output` is not a string or a number.

    Raises:
        TypeError: Naming `name` and the value, e.g. for `multimask_output="no"` (which `if` would take as True).
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}, expected True or False")
    return bool(value)


def number_array(value: Any, name: str, expected: str) -> np.ndarray:
    """`value` as a float64 array when it holds only numbers (ints and floats, not strings or bools).

    Raises:
        ValueError: `"{name} must be {expected}, got {value!r}"` for strings (`"0,0,10,10"`), bytes, text inside a
            list (`[("a", "b")]`) or ragged lists.
    """
    error = ValueError(f"{name} must be {expected}, got {value!r}")
    if isinstance(value, str | bytes):
        raise error
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged
        raise error from None
    if array.dtype.kind not in "iuf" and not (array.dtype.kind == "O" and _all_numbers(array)):
        raise error
    try:
        return array.astype(np.float64)
    except (ValueError, TypeError):
        raise error from None


def check_prompt_values(points: Any, box: Any) -> None:
    """Refuse `points` that are not a list of `(x, y)` numbers and a `box` that is not four numbers, naming the
    argument (`[("a", "b")]`, `"0,0,10,10"`); the processor checks that they lie inside the image.

    Raises:
        ValueError: Naming `points` or `box` and the value.
    """
    if points is not None:
        expected = "a list of (x, y) points, e.g. [(320, 240)] for one point"
        if number_array(points, "points", expected).ndim != 2:
            raise ValueError(f"points={points!r} must be {expected}")
    if box is not None:
        number_array(box, "box", "(x1, y1, x2, y2): four numbers in pixels, e.g. (10, 20, 200, 180)")


def _all_numbers(array: np.ndarray) -> bool:
    return all(isinstance(item, numbers.Real) and not isinstance(item, bool) for item in array.reshape(-1))


def check_points(points: Any, image_size: tuple[int, int], image_index: int = 0) -> list[list[float]]:
    """`points`, a non-empty list of `(x, y)` pixels inside the `(height, width)` image `image_index` of a batch.

    Raises:
        ValueError: On anything but a non-empty list of pairs of numbers, or a point outside the image.
    """
    array = number_array(
        points, f"input_points of image {image_index}", "a non-empty list of [x, y] points (numbers, in pixels)"
    )
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ValueError(
            f"input_points of image {image_index} must be a non-empty list of [x, y] points, got {points!r}"
        )
    height, width = image_size
    for x, y in array:
        if not (0 <= x <= width and 0 <= y <= height):
            raise ValueError(
                f"point ({x:g}, {y:g}) of image {image_index} lies outside the image: expected 0 <= x <= {width} "
                f"and 0 <= y <= {height} (pixels of the {width}x{height} image)"
            )
    return array.tolist()


def check_point_labels(labels: Any, num_points: int, image_index: int = 0) -> list[int]:
    """`labels`, one 1 (foreground) or 0 (background) per point.

    Raises:
        ValueError: On another number of labels than `num_points`, or another value.
    """
    labels = list(np.asarray(labels).reshape(-1).tolist()) if not isinstance(labels, list) else labels
    if len(labels) != num_points:
        raise ValueError(
            f"input_labels of image {image_index} has {len(labels)} labels for {num_points} points: give one per point"
        )
    if any(label not in (0, 1) for label in labels):
        raise ValueError(f"input_labels of image {image_index} are {labels}, expected 1 (foreground) or 0 (background)")
    return [int(label) for label in labels]


def check_box(box: Any, image_size: tuple[int, int], image_index: int = 0) -> list[float]:
    """`box`, `(x1, y1, x2, y2)` pixels inside the `(height, width)` image `image_index` of a batch.

    Raises:
        ValueError: On anything but four numbers with `0 <= x1 < x2 <= width` and `0 <= y1 < y2 <= height`.
    """
    array = number_array(
        box, f"input_boxes of image {image_index}", "one box [x1, y1, x2, y2] (four numbers, in pixels)"
    ).reshape(-1)
    if array.shape != (4,):
        raise ValueError(f"input_boxes of image {image_index} must be one box [x1, y1, x2, y2], got {box!r}")
    x1, y1, x2, y2 = array.tolist()
    height, width = image_size
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(
            f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) of image {image_index} is not a box inside the {width}x{height} "
            f"image: expected 0 <= x1 < x2 <= {width} and 0 <= y1 < y2 <= {height}"
        )
    return [x1, y1, x2, y2]


def mask_prompt(mask: Any, name: str = "mask_input") -> np.ndarray:
    """SAM's mask prompt (an earlier result's `low_res_logits`, `(size, size)` or `(1, size, size)`) as
    `(1, size, size)` float32 logits; `ValueError` naming `name` for any other shape, for values that are not
    numbers, or NaN or infinite ones (which the model would turn into NaN scores and an empty mask). The model checks
    the size."""
    expected = "low-resolution logits of shape (size, size) or (1, size, size) (an earlier result's low_res_logits)"
    array = number_array(mask, name, expected).astype(np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] != 1 or array.shape[1] != array.shape[2]:
        raise ValueError(
            f"{name} must be low-resolution logits of shape (size, size) or (1, size, size) (an earlier result's "
            f"low_res_logits), got {tuple(array.shape)}"
        )
    non_finite = int(np.count_nonzero(~np.isfinite(array)))
    if non_finite:
        raise ValueError(
            f"{name} holds {non_finite} NaN or infinite values of {array.size}, expected finite logits (an earlier "
            "result's low_res_logits)"
        )
    return array


def check_predict_arguments(
    text: Any,
    points: Any,
    box: Any,
    threshold: Any,
    presence_threshold: Any,
    multimask_output: Any,
    image_is_set: bool,
) -> tuple[list[str], float, float, bool]:
    """The checked arguments of a predictor's `predict` (the PyTorch and the onnxruntime one): the class names, the
    mask and presence thresholds and `multimask_output`.

    Raises:
        RuntimeError: When no image is set.
        ValueError, TypeError: As [`check_threshold`], [`check_presence_threshold`], [`check_bool`],
            [`check_prompt_values`] and `check_class_names`.
    """
    threshold = check_threshold(threshold)
    presence_threshold = check_presence_threshold(presence_threshold)
    multimask_output = check_bool(multimask_output, "multimask_output")
    check_prompt_values(points, box)
    if not image_is_set:
        raise RuntimeError("no image is set: call predictor.set_image(image) before predict")
    return check_class_names(text), threshold, presence_threshold, multimask_output


def mask_prompts(mask_input: Any, rows: int, single: bool, size: int) -> np.ndarray | None:
    """`mask_input` as `(rows, 1, size, size)` float32 logits, or None: one [`mask_prompt`] per class name (`single`:
    `mask_input` is the one mask of a single class name, else a list of `rows` masks).

    Raises:
        ValueError: When the number of masks is not `rows`, or a mask is not `(1, size, size)` or `(size, size)`
            finite logits.
    """
    if mask_input is None:
        return None
    masks = [mask_input] if single else list(mask_input)
    if len(masks) != rows:
        raise ValueError(f"mask_input has {len(masks)} masks for {rows} class names: give one per class name")
    arrays = []
    for mask in masks:
        array = mask_prompt(mask, "mask_input")
        if array.shape != (1, size, size):
            raise ValueError(
                f"mask_input must be the low_res_logits of an earlier result, shape (1, {size}, {size}) or "
                f"({size}, {size}), got {array.shape}"
            )
        arrays.append(array)
    return np.stack(arrays)  # (rows, 1, size, size)


__all__ = [
    "check_bool",
    "check_box",
    "check_output_path",
    "check_point_labels",
    "check_points",
    "check_presence_threshold",
    "check_prompt_values",
    "check_threshold",
    "image_fingerprint",
    "load_image",
    "mask_prompt",
    "number_array",
    "to_rgb",
]
