"""`pipeline("text-guided-segmentation")`: SAM-PTx behind transformers' pipeline API, registered on import."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import Pipeline

from ..modeling.sam_backbones import ImageFeatures
from ..processing.class_prompts import check_class_names
from ..processing.input_checks import check_bool, check_prompt_values
from ..processing.processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_presence_threshold,
    check_processor,
    check_threshold,
)
from .engine import SegmentationEngine, inputs_on_model, results_from_outputs
from .segment import image_fingerprint, load_image, prepare_inputs

TASK = "text-guided-segmentation"
# Memory the (image, class) pairs' image embeddings the pipeline keeps may take: 32 pairs at SAM ViT-B (4 MiB each).
FEATURE_CACHE_BYTES = 128 << 20
_PROMPT_KEYS = ("text", "points", "box", "point_labels", "mask_input")
_SIZE_KEYS = ("original_sizes", "reshaped_input_sizes")


class TextGuidedSegmentationPipeline(Pipeline):
    """Segment what class names name in images, optionally at point and box prompts.

    Built by `transformers.pipeline("text-guided-segmentation", model=...)` from an adapter repository or a full
    saved model (local folder or Hub id), or from a loaded model, which is put in eval mode. The processor is the one
    saved with the repository (`SamPtxPeftModel.processor`), else [`SamPtxProcessor.from_model`]. The masks are those
    of [`segment`]: one model call per image for all its class names, and with `batch_size=n` images with inputs of
    the same shapes (the same class names and number of points) share one call.

    Without points and a box the class names alone are the prompt ("segment every X here, or say there is none"):
    with a model trained with a presence head, only the classes the image holds come back, scored by their presence.
    transformers' `promptable-concept-segmentation` pipeline calls that score threshold `threshold`; here it is
    `presence_threshold`, as `threshold` has always been the mask logit threshold.

    Example:

    ```py
    >>> import samptx_hf  # doctest: +SKIP
    >>> from transformers import pipeline
    >>> segmenter = pipeline("text-guided-segmentation", model="your-name/sam-ptx-cod10k")  # doctest: +SKIP
    >>> segmenter("fish.jpg", text=["batfish", "seahorse"], points=[(320, 240)])  # doctest: +SKIP
    [{'label': 'batfish', 'score': 0.93, 'mask': <PIL.Image.Image image mode=L size=640x480>}, ...]
    >>> segmenter("fish.jpg", text=["batfish", "seahorse", "diver"], top_k=1)  # text only  # doctest: +SKIP
    [{'label': 'batfish', 'score': 0.97, 'mask': <PIL.Image.Image image mode=L size=640x480>}]
    ```
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, model: Any, processor: SamPtxProcessor | None = None, **kwargs: Any) -> None:
        if processor is None:
            processor = getattr(model, "processor", None) or SamPtxProcessor.from_model(model)
        check_processor(processor)
        check_image_processor_matches(processor.image_processor, model.config.sam_config)
        _check_batch_size(kwargs.get("batch_size"))
        super().__init__(model=model, processor=processor, **kwargs)
        self.model.eval()
        self._engine = SegmentationEngine(self.model, self.processor, FEATURE_CACHE_BYTES)

    def __call__(self, images: Any, **kwargs: Any) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Segment each class name in an image, or in each of several images.

        Args:
            images (`str`, `PIL.Image.Image`, `np.ndarray`, a dict, or a list of them):
                A path, a PIL image or a `(height, width, 3)` uint8 array; or a dict with `"image"` and any of
                `"text"`, `"points"`, `"box"`, `"point_labels"` for prompts of its own. A list gives one result each.
            text (`str` or `list[str]`):
                The class name(s), for every image without its own.
            points (`list[tuple[float, float]]`, *optional*):
                `(x, y)` pixels of the image; foreground unless `point_labels` gives 0.
            box (`tuple[float, float, float, float]`, *optional*):
                `(x1, y1, x2, y2)` pixels of the image.
            point_labels (`list[int]`, *optional*):
                1 (foreground) or 0 (background) per point.
            mask_input (*optional*):
                SAM's mask prompt: the low-resolution logits `(1, size, size)` of an earlier prediction (a
                [`SamPtxPredictor`] result's `low_res_logits`), for every class name of the image.
            threshold (`float`, defaults to 0.0):
                Mask logit above which a pixel is in the mask.
            presence_threshold (`float`, defaults to 0.5):
                Presence probability below which a class is absent (a model with a presence head): its mask is empty
                and, in a text-only call, it has no entry. transformers' `promptable-concept-segmentation` calls this
                `threshold`.
            top_k (`int`, *optional*):
                In a text-only call, keep the `top_k` entries with the highest scores (the most present classes);
                `None` keeps all.
            multimask_output (`bool`, defaults to `False`):
                Predict SAM's three masks per class and keep the one with the best predicted IoU.
            batch_size (`int`, *optional*):
                Images per model call (transformers' pipeline batching), at least 1.

        Returns:
            For one image, a list with one dict per class name, in order: `"label"` (the class name), `"score"` (SAM's
            predicted IoU, a float) and `"mask"` (a mode `"L"` PIL image at the image's size, 255 inside the mask).
            Without points and a box, and with a presence head, only the present classes (in the order given, at
            most `top_k`), `"score"` being the presence; `[]` when none is. For a list of images, one such list per
            image.

        Raises:
            ValueError: When no image or no class name is given, on an empty class name, points or a box that are
                not numbers or lie outside the image, an unreadable image (`FileNotFoundError` when a path does not
                exist), a NaN `threshold`, a `presence_threshold` outside [0, 1], a `top_k` below 1 or a
                `batch_size` below 1.
            TypeError: On a `threshold` or `presence_threshold` that is not a real number, or a `multimask_output`
                that is not a bool.
        """
        _check_batch_size(kwargs.get("batch_size"))
        if isinstance(images, list | tuple) and len(images) == 0:
            raise ValueError(
                f"images={images!r} is an empty list, expected an image (a path, a PIL image or an array) or a "
                "non-empty list of them"
            )
        return super().__call__(images, **kwargs)

    def _sanitize_parameters(
        self,
        text: str | Sequence[str] | None = None,
        points: Sequence[Sequence[float]] | None = None,
        box: Sequence[float] | None = None,
        point_labels: Sequence[int] | None = None,
        threshold: float | None = None,
        multimask_output: bool | None = None,
        mask_input: Any = None,
        presence_threshold: float | None = None,
        top_k: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess_params = {
            key: value
            for key, value in zip(_PROMPT_KEYS, (text, points, box, point_labels, mask_input), strict=True)
            if value is not None
        }
        forward_params = {}
        if multimask_output is not None:
            forward_params["multimask_output"] = check_bool(multimask_output, "multimask_output")
        postprocess_params: dict[str, Any] = {}
        if threshold is not None:
            postprocess_params["threshold"] = check_threshold(threshold)
        if presence_threshold is not None:
            postprocess_params["presence_threshold"] = check_presence_threshold(presence_threshold)
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"top_k={top_k!r}, expected a whole number of classes, at least 1 (None keeps all)")
            postprocess_params["top_k"] = top_k
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, image: Any, **prompts: Any) -> dict[str, Any]:
        if isinstance(image, dict):
            unknown = sorted(set(image) - {"image", *_PROMPT_KEYS})
            if unknown or "image" not in image:
                raise ValueError(
                    f"an input dict has keys {sorted(image)}, expected 'image' and any of {', '.join(_PROMPT_KEYS)}"
                )
            prompts = {**prompts, **{key: value for key, value in image.items() if key != "image"}}
            image = image["image"]
        if prompts.get("text") is None:
            raise ValueError(f"no class name given: call the {TASK} pipeline with text='batfish' or text=[...]")
        text = prompts["text"]
        check_prompt_values(prompts.get("points"), prompts.get("box"))
        image = load_image(image)
        inputs = prepare_inputs(
            self.processor,
            image,
            text,
            prompts.get("points"),
            prompts.get("box"),
            prompts.get("point_labels"),
            prompts.get("mask_input"),
        )
        # Non-tensor entries: with batch_size > 1 transformers' collator hands `_forward` a list of each.
        return {
            "inputs": inputs,
            "class_names": check_class_names(text),
            "image_key": image_fingerprint(image),
            "text_only": prompts.get("points") is None and prompts.get("box") is None,
        }

    def _forward(self, model_inputs: dict[str, Any], multimask_output: bool = False) -> dict[str, Any]:
        batched = isinstance(model_inputs["inputs"], list)
        per_image = model_inputs["inputs"] if batched else [model_inputs["inputs"]]
        image_keys = model_inputs["image_key"] if batched else [model_inputs["image_key"]]
        pred_masks, iou_scores, presence_logits = self._predict(per_image, image_keys, multimask_output)
        class_names = model_inputs["class_names"] if batched else [model_inputs["class_names"]]
        text_only = model_inputs["text_only"] if batched else [model_inputs["text_only"]]
        image_outputs = [
            {
                "pred_masks": pred_masks[index],
                "iou_scores": iou_scores[index],
                "presence_logits": presence_logits[index],
                **{key: inputs[key] for key in _SIZE_KEYS},
                "class_names": class_names[index],
                "text_only": text_only[index],
            }
            for index, inputs in enumerate(per_image)
        ]
        # transformers splits a batch's outputs along lists (and unsqueezes tensors): one dict per image.
        return {"image_outputs": image_outputs if batched else image_outputs[0]}

    def _predict(
        self, per_image: list[dict[str, torch.Tensor]], image_keys: list[str], multimask_output: bool
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None]]:
        """`pred_masks`, `iou_scores` and `presence_logits` (None without a presence head) of each image; images whose
        inputs have the same shapes share one call."""
        groups: dict[tuple, list[int]] = {}
        for index, inputs in enumerate(per_image):
            signature = tuple((key, tuple(value.shape[1:])) for key, value in inputs.items() if key not in _SIZE_KEYS)
            groups.setdefault(signature, []).append(index)
        pred_masks, iou_scores, presence_logits = (
            [None] * len(per_image),
            [None] * len(per_image),
            [None] * len(per_image),
        )
        for indices in groups.values():
            batch = {
                key: torch.cat([per_image[index][key] for index in indices])
                for key in per_image[indices[0]]
                if key not in _SIZE_KEYS
            }  # (samples of these images, ...)
            batch = inputs_on_model(batch, self.model)
            row_keys = [image_keys[index] for index in indices for _ in range(len(per_image[index]["input_ids"]))]
            features = self._image_features(
                batch.pop("pixel_values"), batch["input_ids"], batch["attention_mask"], row_keys
            )
            outputs = self.model(**batch, image_embeddings=features, multimask_output=multimask_output)
            sizes = [len(per_image[index]["input_ids"]) for index in indices]
            presences = (
                outputs.presence_logits.split(sizes) if outputs.presence_logits is not None else [None] * len(sizes)
            )
            for index, masks, scores, presence in zip(
                indices, outputs.pred_masks.split(sizes), outputs.iou_scores.split(sizes), presences, strict=True
            ):
                pred_masks[index], iou_scores[index], presence_logits[index] = masks, scores, presence
        return pred_masks, iou_scores, presence_logits

    @torch.no_grad()
    def _image_features(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        image_keys: list[str],
    ) -> ImageFeatures:
        """The image embeddings of each (image, class) row, `image_keys` naming each row's image
        ([`image_fingerprint`], taken once per image in `preprocess`). A pair this pipeline encoded before (another
        set of prompts on the same image and class, in this call or an earlier one) is not encoded again: pairs are
        kept up to `FEATURE_CACHE_BYTES`, least recently used out."""
        keys = [
            (image_key, tuple(ids[mask.bool()].tolist()))
            for image_key, ids, mask in zip(image_keys, input_ids, attention_mask, strict=True)
        ]
        return self._engine.image_features(
            keys,
            lambda missing: self.model.get_image_embeddings(
                pixel_values[missing], input_ids=input_ids[missing], attention_mask=attention_mask[missing]
            ),
        )

    def postprocess(
        self,
        model_outputs: dict[str, Any],
        threshold: float = 0.0,
        presence_threshold: float = 0.5,
        top_k: int | None = None,
    ) -> list[dict[str, Any]]:
        model_outputs = model_outputs["image_outputs"]
        results = results_from_outputs(
            self.processor,
            model_outputs["pred_masks"],
            model_outputs["iou_scores"],
            model_outputs["original_sizes"],
            model_outputs["reshaped_input_sizes"],
            model_outputs["class_names"],
            threshold,
            presence_logits=model_outputs["presence_logits"],
            presence_threshold=presence_threshold,
        )
        entries = [
            {
                "label": result.class_name,
                "score": result.presence
                if model_outputs["text_only"] and result.presence is not None
                else result.score,
                "mask": Image.fromarray(result.mask.astype(np.uint8) * 255),  # mode "L"
            }
            for result in results
            if not (model_outputs["text_only"] and result.presence is not None and result.presence < presence_threshold)
        ]
        if model_outputs["text_only"] and top_k is not None and top_k < len(entries):
            kept = sorted(range(len(entries)), key=lambda index: -entries[index]["score"])[:top_k]
            entries = [entries[index] for index in sorted(kept)]
        return entries


def _check_batch_size(batch_size: Any) -> None:
    """Refuse a `batch_size` (given to `pipeline(...)` or to a call) that is not a whole number of at least 1."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size={batch_size!r}, expected a whole number of images per model call, at least 1")


__all__ = ["TASK", "TextGuidedSegmentationPipeline"]
