"""SAM 2's image preprocessing and mask post-processing in plain torch (no torchvision).

transformers' `Sam2ImageProcessor` runs on torchvision, which does not import beside every torch build. This module
does the same steps as its documented pipeline (`image_processing_sam2.py`):

1. images: resize to the model's square input (`size`, 1024 x 1024 for the released checkpoints; bilinear with
   antialiasing, rounded back to 0..255 as torchvision's uint8 resize does; the aspect ratio is not kept and nothing
   is padded), rescale by 1/255, normalise with the ImageNet mean and std;
2. segmentation maps: nearest-neighbour resize to the low-resolution mask size (`mask_size`, 256 x 256);
3. points and boxes: scaled by `size / original` per axis, into the frame of the resized image;
4. masks back: bilinear upsampling of the low-resolution logits to the original `(height, width)`, then the threshold.

It also takes SAM's processor's prompt arguments (`input_points`, `input_labels`, `input_boxes`), so that it can
stand where SAM-PTx uses `SamProcessor(image_processor)` (see [`prompt_processor`]).
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import BatchFeature, SamProcessor
from transformers.image_processing_utils import BaseImageProcessor
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .input_checks import POINT_PAD_LABEL


class Sam2TorchImageProcessor(BaseImageProcessor):
    r"""SAM 2's image processor without torchvision: square resize, rescale, normalise; masks back to image size.

    Args:
        size (`dict`, *optional*, defaults to `{"height": 1024, "width": 1024}`):
            The model's square input size.
        mask_size (`dict`, *optional*, defaults to `{"height": 256, "width": 256}`):
            The low-resolution mask size (SAM 2's `pred_masks`), for segmentation maps.
        image_mean, image_std (`list[float]`, *optional*, default to ImageNet's):
            Normalisation of the rescaled image.
        rescale_factor (`float`, *optional*, defaults to 1/255):
            Factor from 0..255 pixel values to 0..1.

    Example:

    ```python
    >>> import numpy as np
    >>> from samptx_hf.processing.image_processing_sam2 import Sam2TorchImageProcessor
    >>> processor = Sam2TorchImageProcessor(size={"height": 64, "width": 64}, mask_size={"height": 16, "width": 16})
    >>> encoding = processor(np.zeros((30, 40, 3), dtype=np.uint8), input_points=[[[[20, 15]]]])
    >>> tuple(encoding["pixel_values"].shape), encoding["input_points"].tolist()
    ((1, 3, 64, 64), [[[[32.0, 32.0]]]])
    ```
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        size: dict[str, int] | None = None,
        mask_size: dict[str, int] | None = None,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        rescale_factor: float = 1 / 255,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.size = _square_size(size or {"height": 1024, "width": 1024}, "size")
        self.mask_size = _square_size(mask_size or {"height": 256, "width": 256}, "mask_size")
        self.image_mean = list(image_mean if image_mean is not None else IMAGENET_DEFAULT_MEAN)
        self.image_std = list(image_std if image_std is not None else IMAGENET_DEFAULT_STD)
        self.rescale_factor = float(rescale_factor)

    # ------------------------------------------------------------------------------------------------ images

    def resize_image(self, image: Any) -> torch.Tensor:
        """One RGB image (PIL, or an array/tensor with channels first or last) → (3, height, width) floats 0..255."""
        pixels = _to_channels_first(image)  # (3, h, w) float32, 0..255
        height, width = self.size["height"], self.size["width"]
        if tuple(pixels.shape[-2:]) != (height, width):
            pixels = F.interpolate(
                pixels[None], size=(height, width), mode="bilinear", align_corners=False, antialias=True
            )[0]
            pixels = pixels.round().clamp(0, 255)  # torchvision resizes uint8 images to uint8
        return pixels

    def preprocess(
        self,
        images: Any,
        segmentation_maps: Any = None,
        input_points: Any = None,
        input_labels: Any = None,
        input_boxes: Any = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """Images (and optional masks and prompts) → SAM 2's inputs, as `Sam2Processor` prepares them.

        Args:
            images: One image or a list of them (PIL, numpy or torch; RGB, channels first or last).
            segmentation_maps: Binary masks, one per image, resized to `mask_size` (nearest) into `labels`.
            input_points: `(images, [point_batch,] points, 2)` nested lists of `(x, y)` pixels of each image.
            input_labels: `(images, [point_batch,] points)` labels (1, 0, or -10 for padding).
            input_boxes: `(images, [boxes,] 4)` nested lists of `(x1, y1, x2, y2)` pixels of each image.

        Returns:
            [`BatchFeature`] with `pixel_values` `(images, 3, height, width)`, `original_sizes` and
            `reshaped_input_sizes` `(images, 2)` as (height, width), and `labels`, `input_points`, `input_labels`,
            `input_boxes` when given.

        Raises:
            ValueError: On unexpected arguments, `return_tensors` other than `"pt"`, or prompts whose image count
                does not match the images.
        """
        if kwargs:
            raise ValueError(f"unexpected arguments {sorted(kwargs)} to Sam2TorchImageProcessor")
        if return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors={return_tensors!r} is not supported, expected 'pt'")
        images = list(images) if isinstance(images, list | tuple) else [images]
        original_sizes = [image_size_of(image) for image in images]
        pixels = torch.stack([self.resize_image(image) for image in images])  # (images, 3, H, W), 0..255
        mean = torch.tensor(self.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        size = (self.size["height"], self.size["width"])
        data: dict[str, Any] = {
            "pixel_values": (pixels * self.rescale_factor - mean) / std,
            "original_sizes": torch.tensor(original_sizes, dtype=torch.int64),
            "reshaped_input_sizes": torch.tensor([size] * len(images), dtype=torch.int64),
        }
        if segmentation_maps is not None:
            maps = segmentation_maps if isinstance(segmentation_maps, list | tuple) else [segmentation_maps]
            data["labels"] = torch.stack([self.resize_mask(mask) for mask in maps]).to(torch.int64)
        if input_points is not None:
            points = _per_image_array(input_points, "input_points", len(images), last=2)
            points = torch.stack([self.scale_coordinates(p, s) for p, s in zip(points, original_sizes, strict=True)])
            data["input_points"] = points[:, None] if points.dim() == 3 else points  # (images, point_batch, n, 2)
        if input_labels is not None:
            labels = torch.as_tensor(np.asarray(input_labels), dtype=torch.int64)
            data["input_labels"] = labels[:, None] if labels.dim() == 2 else labels  # (images, point_batch, n)
        if input_boxes is not None:
            boxes = _per_image_array(input_boxes, "input_boxes", len(images), last=4)
            boxes = torch.stack([self.scale_coordinates(b, s) for b, s in zip(boxes, original_sizes, strict=True)])
            data["input_boxes"] = boxes[:, None] if boxes.dim() == 2 else boxes  # (images, boxes, 4)
        return BatchFeature(data=data)

    def resize_mask(self, mask: Any) -> torch.Tensor:
        """A (height, width) mask → (mask_height, mask_width), nearest neighbour."""
        array = torch.as_tensor(np.asarray(mask)).to(torch.float32)
        if array.dim() != 2:
            raise ValueError(f"a segmentation map must have shape (height, width), got {tuple(array.shape)}")
        size = (self.mask_size["height"], self.mask_size["width"])
        return F.interpolate(array[None, None], size=size, mode="nearest")[0, 0]

    def scale_coordinates(self, coords: np.ndarray, original_size: tuple[int, int]) -> torch.Tensor:
        """`(x, y)` pairs in the last axis (points, or boxes as x1, y1, x2, y2) → the resized image's frame.

        Padding points (both coordinates -10) stay -10.
        """
        height, width = original_size
        array = np.array(coords, dtype=np.float64)
        pairs = array.reshape(*array.shape[:-1], -1, 2)
        padding = np.all(pairs == POINT_PAD_LABEL, axis=-1)
        pairs[..., 0] *= self.size["width"] / width
        pairs[..., 1] *= self.size["height"] / height
        pairs[padding] = POINT_PAD_LABEL
        return torch.from_numpy(pairs.reshape(array.shape)).to(torch.float32)

    # ------------------------------------------------------------------------------------------------ masks

    def post_process_masks(
        self,
        masks: Sequence[torch.Tensor] | torch.Tensor,
        original_sizes: Any,
        reshaped_input_sizes: Any = None,
        mask_threshold: float = 0.0,
        binarize: bool = True,
    ) -> list[torch.Tensor]:
        """Upsample low-resolution mask logits to each original image size (bilinear), as SAM 2 does.

        Args:
            masks: One tensor per image of shape `(..., mask_height, mask_width)`.
            original_sizes: `(images, 2)` as (height, width).
            reshaped_input_sizes: Accepted for SAM's signature; SAM 2 does not pad, so it is not needed.
            mask_threshold: Logit above which a pixel is foreground.
            binarize: Return boolean masks; `False` returns the upsampled logits.

        Returns:
            One tensor per image of shape `(..., original_height, original_width)`.
        """
        original_sizes = torch.as_tensor(original_sizes).tolist()
        if len(masks) != len(original_sizes):
            raise ValueError(f"got {len(masks)} masks for {len(original_sizes)} original sizes: give one per image")
        results = []
        for mask, (height, width) in zip(masks, original_sizes, strict=True):
            mask = torch.as_tensor(mask).float()
            leading = mask.shape[:-2]
            flat = mask.reshape(-1, 1, *mask.shape[-2:])
            upsampled = F.interpolate(flat, (int(height), int(width)), mode="bilinear", align_corners=False)
            upsampled = upsampled.reshape(*leading, int(height), int(width))
            results.append(upsampled > mask_threshold if binarize else upsampled)
        return results


def prompt_processor(image_processor: Any) -> Any:
    """What turns images, masks and prompts into model inputs: `SamProcessor(image_processor)` for SAM's image
    processors, the SAM 2 processor itself (it handles prompts) for a [`Sam2TorchImageProcessor`]."""
    if isinstance(image_processor, Sam2TorchImageProcessor):
        return image_processor
    return SamProcessor(image_processor)


def _square_size(size: dict[str, int], name: str) -> dict[str, int]:
    if not isinstance(size, dict) or set(size) != {"height", "width"}:
        raise ValueError(f"{name} must be a dict with 'height' and 'width', got {size!r}")
    if any(not isinstance(v, int) or v <= 0 for v in size.values()):
        raise ValueError(f"{name}={size!r} must hold positive integers")
    return {"height": size["height"], "width": size["width"]}


def _to_channels_first(image: Any) -> torch.Tensor:
    if isinstance(image, Image.Image):
        array = np.asarray(image.convert("RGB"))
    else:
        array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3:
        raise ValueError(f"an image must have shape (height, width[, channels]), got {array.shape}")
    if array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.shape[-1] != 3:
        raise ValueError(f"an image must be RGB (3 channels), got shape {array.shape}")
    if array.dtype != np.uint8 and array.size and float(array.max()) <= 1.0:
        array = array * 255.0  # floats in 0..1, as transformers' processors accept them
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 0))).to(torch.float32)


def image_size_of(image: Any) -> tuple[int, int]:
    """(height, width) of a PIL image or an array with channels first or last."""
    if isinstance(image, Image.Image):
        return image.height, image.width
    shape = tuple(image.shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 3:
        return (shape[1], shape[2]) if shape[0] in (1, 3) and shape[2] not in (1, 3) else (shape[0], shape[1])
    raise ValueError(f"an image must have shape (height, width[, channels]), got {shape}")


def _per_image_array(prompts: Any, name: str, num_images: int, last: int) -> list[np.ndarray]:
    if isinstance(prompts, torch.Tensor):
        prompts = prompts.tolist()
    if len(prompts) != num_images:
        raise ValueError(f"{name} has {len(prompts)} entries but {num_images} images were given: give one per image")
    arrays = [np.asarray(entry, dtype=np.float64) for entry in prompts]
    for array in arrays:
        if array.shape[-1] != last:
            raise ValueError(f"{name} must end in {last} coordinates, got an entry of shape {array.shape}")
    return arrays


__all__ = ["Sam2TorchImageProcessor", "image_size_of", "prompt_processor"]
