"""Pre- and post-processing of SAM-PTx: SAM's image processor for images and prompts, CLIP's tokenizer for text."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, PreTrainedConfig, ProcessorMixin
from transformers.utils import is_torchvision_available

from ..modeling.sam_backbones import input_image_size, is_sam2, low_res_mask_size
from .class_prompts import DEFAULT_PROMPT_TEMPLATE, check_class_names, check_prompt_template, format_prompts
from .image_processing_sam2 import Sam2TorchImageProcessor, image_size_of, prompt_processor
from .input_checks import (
    POINT_PAD_LABEL,
    check_box,
    check_point_labels,
    check_points,
    check_presence_threshold,
    check_threshold,
)
from .input_checks import mask_prompt as check_mask_prompt


def image_processor_for_sam_config(sam_config: PreTrainedConfig) -> Any:
    """The image processor that matches a `SamConfig` or a `Sam2Config`, built offline.

    SAM: images are resized (longest edge) and padded to `vision_config.image_size`; masks to the prompt encoder's
    low-resolution mask size, `4 * prompt_encoder_config.image_embedding_size` (256 for the 1024 px models), the
    size of SAM's `pred_masks`. `SamImageProcessor` when torchvision is installed, else `SamImageProcessorPil`
    (same outputs). SAM 2: a [`Sam2TorchImageProcessor`] (resized to the square input, no padding; no torchvision
    needed).
    """
    image_size, mask_size = input_image_size(sam_config), low_res_mask_size(sam_config)
    if is_sam2(sam_config):
        return Sam2TorchImageProcessor(
            size={"height": image_size, "width": image_size}, mask_size={"height": mask_size, "width": mask_size}
        )
    if is_torchvision_available():
        from transformers import SamImageProcessor as processor_class
    else:
        from transformers import SamImageProcessorPil as processor_class
    return processor_class(
        size={"longest_edge": image_size},
        pad_size={"height": image_size, "width": image_size},
        mask_size={"longest_edge": mask_size},
        mask_pad_size={"height": mask_size, "width": mask_size},
    )


def check_image_processor_matches(image_processor: Any, sam_config: PreTrainedConfig) -> None:
    """Refuse SAM's image processor for a SAM 2 model and SAM 2's for a SAM model.

    Both give 1024 px `pixel_values` for the released checkpoints, so the model could not tell: SAM keeps the aspect
    ratio and pads, SAM 2 stretches to a square, and their points and masks map back differently.

    Raises:
        ValueError: Naming both, and how to get the matching processor.
    """
    gives_sam2 = isinstance(image_processor, Sam2TorchImageProcessor)
    if gives_sam2 != is_sam2(sam_config):
        model = "SAM 2 (Sam2Model)" if is_sam2(sam_config) else "SAM (SamModel)"
        raise ValueError(
            f"the image processor is a {type(image_processor).__name__}, which prepares images for "
            f"{'SAM 2' if gives_sam2 else 'SAM'}, but the model's frozen SAM is {model}: use "
            "SamPtxProcessor.from_model(model) or image_processor_for_sam_config(model.config.sam_config)"
        )


def check_processor(processor: Any, name: str = "processor") -> "SamPtxProcessor":
    """`processor` when it is a [`SamPtxProcessor`].

    Raises:
        TypeError: Naming `name` and what was given (a string, another transformers processor).
    """
    if not isinstance(processor, SamPtxProcessor):
        value = f"={processor!r}" if isinstance(processor, str | bytes | int | float) else ""
        raise TypeError(
            f"{name}{value} is a {type(processor).__name__}, expected a SamPtxProcessor (or None for the "
            "model's own, SamPtxProcessor.from_model(model))"
        )
    return processor


class SamPtxProcessor(ProcessorMixin):
    r"""Turns images, class names and point/box prompts into the inputs of [`SamPtxForTextSegmentation`].

    Images and prompts go through SAM's image processor (resize the longest edge, normalise, pad; points and boxes
    are rescaled to the resized image); class names are formatted with `prompt_template` and tokenised by the CLIP
    tokenizer. One image with several class names gives one sample per class.

    Args:
        image_processor (`SamImageProcessor` or `SamImageProcessorPil`):
            SAM's image processor, e.g. `SamImageProcessor.from_pretrained("facebook/sam-vit-base")`.
        tokenizer (`CLIPTokenizer` or `CLIPTokenizerFast`):
            The tokenizer of the frozen CLIP text encoder.
        prompt_template (`str`, *optional*, defaults to `"a photo of a {}"`):
            Turns a class name into the encoded text; must contain `{}` once. Use the model's
            `config.prompt_template` (what [`from_model`] does).

    Example:

    ```python
    >>> processor = SamPtxProcessor.from_model(model)  # doctest: +SKIP
    >>> inputs = processor(image, ["batfish", "seaweed"], input_points=[[120, 80]])  # doctest: +SKIP
    >>> outputs = model(**inputs)  # doctest: +SKIP
    >>> masks = processor.post_process_masks(outputs.pred_masks, inputs.original_sizes,  # doctest: +SKIP
    ...     inputs.reshaped_input_sizes)
    ```
    """

    def __init__(self, image_processor, tokenizer, prompt_template: str = DEFAULT_PROMPT_TEMPLATE) -> None:
        super().__init__(image_processor, tokenizer)
        self.prompt_template = check_prompt_template(prompt_template)

    @classmethod
    def from_model(cls, model: Any) -> "SamPtxProcessor":
        """The processor that matches a SAM-PTx model (or a `PeftModel` around one), built without downloads.

        The image processor follows `model.config.sam_config` (SAM's normalisation, resized and padded to its input
        size), the tokenizer is `model.get_tokenizer()` and the prompt template `model.config.prompt_template`.
        """
        config = model.config
        return cls(image_processor_for_sam_config(config.sam_config), model.get_tokenizer(), config.prompt_template)

    def __call__(
        self,
        images: Any = None,
        text: str | Sequence[str] | None = None,
        input_points: Sequence | None = None,
        input_labels: Sequence | None = None,
        input_boxes: Sequence | None = None,
        return_tensors: str = "pt",
        input_masks: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        r"""Prepare samples for the model: one per (image, class name) pair.

        Coordinates are `(x, y)` pixels of the original image. With one image (not in a list), its prompts are
        given directly; with a list of images, prompts are given as a list with one entry per image.

        Args:
            images (`PIL.Image.Image`, `np.ndarray`, `torch.Tensor`, or a list of them):
                The image(s), RGB.
            text (`str` or `list[str]`):
                Class name(s), formatted with `prompt_template`. One image with `k` names gives `k` samples (the
                image and its prompts repeated); `n` images with one name give `n` samples; otherwise give one name
                per image.
            input_points (*optional*):
                Point prompts: `[[x, y], ...]` for one image, `[[[x, y], ...], ...]` for a list of images.
            input_labels (*optional*):
                1 (foreground) or 0 (background) per point, nested like `input_points` without the coordinates.
                Defaults to 1 for every point.
            input_boxes (*optional*):
                One box `[x1, y1, x2, y2]` for one image, `[[x1, y1, x2, y2], ...]` for a list of images.
            input_masks (*optional*):
                SAM's mask prompt: the low-resolution logits of an earlier prediction, `(size, size)` or
                `(1, size, size)` (a predictor result's `low_res_logits`), one for one image, a list for a list of
                images; repeated for each class name of its image. The model checks the size.
            return_tensors (`str`, defaults to `"pt"`):
                Only `"pt"` (PyTorch tensors).

        Returns:
            [`BatchFeature`] with `pixel_values` `(samples, 3, size, size)`, `input_ids` and `attention_mask`
            `(samples, seq_len)`, `original_sizes` and `reshaped_input_sizes` `(samples, 2)` as (height, width), and
            when prompts were given `input_points` `(samples, 1, num_points, 2)` and `input_labels`
            `(samples, 1, num_points)` (-10 pads images with fewer points), `input_boxes` `(samples, 1, 4)`.

        Raises:
            ValueError: On missing images, an empty or non-string class name, counts of images, names or prompts
                that do not match, a point or box outside its image, or labels other than 0 and 1.
        """
        if kwargs:
            raise ValueError(f"unexpected arguments {sorted(kwargs)}; see SamPtxProcessor.__call__ for the inputs")
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported, expected 'pt'")
        if images is None:
            raise ValueError("images must be given: one image or a list of images")
        is_batch = isinstance(images, list | tuple)
        images = list(images) if is_batch else [images]
        if not images:
            raise ValueError("images is an empty list, expected at least one image")
        class_names = check_class_names(text)
        image_index, name_index = _pair_images_with_names(len(images), len(class_names))

        # 1. Prompts as one entry per image, checked against each image's size.
        points = _per_image(input_points, "input_points", len(images), is_batch)
        labels = _per_image(input_labels, "input_labels", len(images), is_batch)
        boxes = _per_image(input_boxes, "input_boxes", len(images), is_batch)
        if labels is not None and points is None:
            raise ValueError("input_labels were given without input_points")
        image_sizes = [image_size_of(image) for image in images]
        for i, image_size in enumerate(image_sizes):
            self.check_image_size(image_size, f"image {i}")
        if points is not None:
            points = [check_points(points[i], image_sizes[i], i) for i in range(len(images))]
            if labels is None:
                labels = [[1] * len(image_points) for image_points in points]
            labels = [check_point_labels(labels[i], len(points[i]), i) for i in range(len(images))]
            points, labels = _pad_points(points, labels)
        if boxes is not None:
            boxes = [check_box(boxes[i], image_sizes[i], i) for i in range(len(images))]

        # 2. Images and prompts through SAM's processor, once per image; then repeated per sample.
        encoding = prompt_processor(self.image_processor)(
            images=images,
            input_points=points,
            input_labels=labels,
            input_boxes=[[box] for box in boxes] if boxes is not None else None,
            return_tensors="pt",
        )
        index = torch.tensor(image_index)
        data = {
            "pixel_values": encoding["pixel_values"][index],  # (samples, 3, size, size)
            "original_sizes": encoding["original_sizes"][index],  # (samples, 2)
            "reshaped_input_sizes": encoding["reshaped_input_sizes"][index],  # (samples, 2)
        }
        if points is not None:
            data["input_points"] = encoding["input_points"][index].to(torch.float32)  # (samples, 1, points, 2)
            data["input_labels"] = encoding["input_labels"][index].to(torch.int64)  # (samples, 1, points)
            data["input_points"][data["input_labels"] == POINT_PAD_LABEL] = POINT_PAD_LABEL  # SAM's padding point
        if boxes is not None:
            data["input_boxes"] = encoding["input_boxes"][index].to(torch.float32)  # (samples, 1, 4)
        masks = _per_image(input_masks, "input_masks", len(images), is_batch)
        if masks is not None:
            data["input_masks"] = torch.stack(
                [mask_prompt(mask, f"input_masks of image {i}") for i, mask in enumerate(masks)]
            )[index]

        # 3. Class prompts.
        prompts = format_prompts([class_names[i] for i in name_index], self.prompt_template)
        tokens = self.tokenizer(prompts, padding=True, return_tensors="pt")
        data["input_ids"] = tokens["input_ids"]  # (samples, seq_len)
        data["attention_mask"] = tokens["attention_mask"]  # (samples, seq_len)
        return BatchFeature(data=data)

    def encode_prompts(
        self,
        original_size: Sequence[int],
        reshaped_input_size: Sequence[int],
        text: str | Sequence[str],
        input_points: Sequence | None = None,
        input_labels: Sequence | None = None,
        input_boxes: Sequence | None = None,
    ) -> BatchFeature:
        """The prompts of one image already preprocessed, one sample per class name: what `__call__` gives but the
        pixels, without touching the image again (the predictor's path: the image is encoded once, prompts often).

        Args:
            original_size, reshaped_input_size: `(height, width)` of the image and of its resized version, as
                `original_sizes` / `reshaped_input_sizes` of the processor's output for it.
            text, input_points, input_labels, input_boxes: As for one image in `__call__`.

        Returns:
            [`BatchFeature`] with `input_ids`, `attention_mask`, and `input_points`, `input_labels`, `input_boxes`
            when given, equal to those of `__call__` on the image.

        Raises:
            ValueError: As `__call__`, on bad class names or prompts.
        """
        class_names = check_class_names(text)
        image_size = (int(original_size[0]), int(original_size[1]))
        scale = np.array([reshaped_input_size[1] / image_size[1], reshaped_input_size[0] / image_size[0]])  # (x, y)
        num_samples = len(class_names)
        data: dict[str, Any] = {}
        if input_labels is not None and input_points is None:
            raise ValueError("input_labels were given without input_points")
        if input_points is not None:
            points = check_points(input_points, image_size, 0)
            labels = check_point_labels(input_labels if input_labels is not None else [1] * len(points), len(points), 0)
            scaled = torch.from_numpy(np.asarray(points, dtype=np.float64) * scale).to(torch.float32)
            data["input_points"] = scaled[None, None].repeat(num_samples, 1, 1, 1)  # (samples, 1, points, 2)
            data["input_labels"] = torch.tensor(labels, dtype=torch.int64)[None, None].repeat(num_samples, 1, 1)
        if input_boxes is not None:
            box = np.asarray(check_box(input_boxes, image_size, 0), dtype=np.float64).reshape(2, 2) * scale
            data["input_boxes"] = torch.from_numpy(box.reshape(1, 1, 4)).to(torch.float32).repeat(num_samples, 1, 1)
        tokens = self.tokenizer(format_prompts(class_names, self.prompt_template), padding=True, return_tensors="pt")
        data["input_ids"] = tokens["input_ids"]  # (samples, seq_len)
        data["attention_mask"] = tokens["attention_mask"]  # (samples, seq_len)
        return BatchFeature(data=data)

    def post_process_masks(
        self,
        masks: torch.Tensor,
        original_sizes: torch.Tensor,
        reshaped_input_sizes: torch.Tensor,
        mask_threshold: float = 0.0,
        binarize: bool = True,
    ) -> list[torch.Tensor]:
        """Upsample the model's `pred_masks` to each original image size (SAM's image processor does the work).

        Args:
            masks (`torch.Tensor` of shape `(samples, point_batch, num_masks, height, width)`): Mask logits.
            original_sizes, reshaped_input_sizes (`torch.Tensor` of shape `(samples, 2)`): From the processor output.
            mask_threshold (`float`, defaults to 0.0): Logit above which a pixel is foreground.
            binarize (`bool`, defaults to `True`): Return boolean masks; `False` returns the upsampled logits.

        Returns:
            One tensor per sample of shape `(point_batch, num_masks, original_height, original_width)`.

        Raises:
            TypeError, ValueError: On a `mask_threshold` that is not a real number, or NaN.
        """
        mask_threshold = check_threshold(mask_threshold, "mask_threshold")
        return self.image_processor.post_process_masks(
            list(masks.detach().cpu().float()),
            original_sizes,
            reshaped_input_sizes,
            mask_threshold=mask_threshold,
            binarize=binarize,
        )

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values", "input_points", "input_labels", "input_boxes", "input_ids", "attention_mask"]

    def check_image_size(self, image_size: Sequence[int], name: str = "image") -> None:
        """Refuse an image the model cannot take, before any work: an empty one, or for SAM one so elongated that its
        short side would be resized to 0 pixels (SAM resizes the long side to its input; SAM 2 stretches to a square).

        Args:
            image_size: `(height, width)` of the image in pixels.
            name: How the message names the image, e.g. `"image 2"` for the third of a list.

        Raises:
            ValueError: Naming the image's size and the size or aspect ratio expected.
        """
        height, width = (int(side) for side in image_size)
        if height < 1 or width < 1:
            raise ValueError(f"{name} is {width}x{height} pixels, expected an image of at least 1x1 pixel")
        if isinstance(self.image_processor, Sam2TorchImageProcessor):
            return
        longest_edge = self.image_processor.size["longest_edge"]
        if min(height, width) * longest_edge / max(height, width) < 0.5:
            raise ValueError(
                f"{name} is {width}x{height} pixels: with its long side resized to the model's "
                f"{longest_edge} px its short side would be 0 px; expected an aspect ratio of at most "
                f"{2 * longest_edge}:1 (crop the image)"
            )


def _pair_images_with_names(num_images: int, num_names: int) -> tuple[list[int], list[int]]:
    """For each sample, the index of its image and of its class name."""
    if num_images == 1:
        return [0] * num_names, list(range(num_names))
    if num_names == 1:
        return list(range(num_images)), [0] * num_images
    if num_images == num_names:
        return list(range(num_images)), list(range(num_names))
    raise ValueError(
        f"got {num_images} images and {num_names} class names: expected one image with any number of names, "
        "any number of images with one name, or one name per image"
    )


def _per_image(prompts: Sequence | None, name: str, num_images: int, is_batch: bool) -> list | None:
    if prompts is None:
        return None
    if isinstance(prompts, torch.Tensor | np.ndarray):
        prompts = prompts.tolist()
    if not is_batch:
        return [prompts]
    if not isinstance(prompts, Sequence) or len(prompts) != num_images:
        length = len(prompts) if isinstance(prompts, Sequence) else type(prompts).__name__
        raise ValueError(f"{name} has {length} entries but {num_images} images were given: give one per image")
    return list(prompts)


def _pad_points(points: list[list[list[float]]], labels: list[list[int]]) -> tuple[list, list]:
    """Pad every image's points to the largest count with SAM's pad label -10 (the prompt encoder ignores them).

    `SamProcessor` pads too, but adds one label however many points are missing.
    """
    most = max(len(image_points) for image_points in points)
    padded_points = [image_points + [[0.0, 0.0]] * (most - len(image_points)) for image_points in points]
    padded_labels = [image_labels + [POINT_PAD_LABEL] * (most - len(image_labels)) for image_labels in labels]
    return padded_points, padded_labels


def mask_prompt(mask: Any, name: str = "mask_input") -> torch.Tensor:
    """SAM's mask prompt (an earlier result's `low_res_logits`, `(size, size)` or `(1, size, size)`) as
    `(1, size, size)` float32 logits; `ValueError` naming `name` for any other shape. The model checks the size."""
    return torch.as_tensor(check_mask_prompt(mask, name))


__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "SamPtxProcessor",
    "check_image_processor_matches",
    "check_presence_threshold",
    "check_processor",
    "check_threshold",
    "image_processor_for_sam_config",
    "mask_prompt",
]
