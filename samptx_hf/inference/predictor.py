"""`SamPtxPredictor`: encode an image once, then answer classes and clicks on it in the decoder's time.

The idiom of segment-anything's `SamPredictor` (`set_image`, then `predict` as often as needed), for a model whose
image encoder reads the class name. Three costs, paid once each:

- `set_image`: the image is preprocessed, and the image encoder runs up to its first text-reading block (the trunk,
  `SamPtxForTextSegmentation.get_image_trunk`): with adapters in every block that is the patch embedding only, with
  adapters in the last K blocks everything before them, for a baseline without text in the encoder all of it.
- the first `predict` of a class: the blocks from the first text-reading one on, for that class
  (`get_image_embeddings(image_trunk=...)`); kept in a memory-bounded cache, least recently used out.
- every `predict`: the prompt encoder and the mask decoder (`forward(image_embeddings=...)`).

The results are those of [`segment`] on the same image and prompts: without a point and a box the class name alone
is the prompt, and a model with a presence head says whether the image holds the class (`result.presence`; the masks
of an absent class are empty), so typing class after class on one image answers each from the caches.
"""

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from peft import PeftModel

from ..modeling.image_encoding import ImageTrunk
from ..modeling.modeling_samptx import SamPtxForTextSegmentation
from ..modeling.sam_backbones import ImageFeatures, low_res_mask_size
from ..processing.class_prompts import check_class_names
from ..processing.image_processing_sam2 import prompt_processor
from ..processing.processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_presence_threshold,
    check_processor,
    check_threshold,
    mask_prompt,
)
from .results import PredictorCacheInfo, PredictorResult
from .segment import (
    check_bool,
    check_prompt_values,
    eval_mode,
    image_fingerprint,
    load_image,
    results_from_outputs,
    text_only_prompt,
)

DEFAULT_CACHE_BYTES = 1 << 30  # 1 GiB: at SAM ViT-B, the trunk (12 MiB) and about 250 classes (4 MiB each)


class SamPtxPredictor:
    """Segment classes and clicks on one image at a time, encoding the image once and each class once.

    Args:
        model: A [`SamPtxForTextSegmentation`], or a `PeftModel` around one (a loaded adapter repository).
        processor: A [`SamPtxProcessor`]; by default the one loaded with the model, else built from it.
        max_cache_bytes: Memory the cached trunk and class embeddings may take, in bytes; the least recently
            used classes are dropped beyond it (the trunk of the current image is always kept).

    The caches hold what the model computed: after changing its weights or switching its active adapter, call
    `reset_image()` (or `set_image` with another image) so that nothing computed before is reused.

    Example:

    ```py
    >>> predictor = SamPtxPredictor(model)  # doctest: +SKIP
    >>> predictor.set_image("fish.jpg")  # doctest: +SKIP
    >>> first = predictor.predict("batfish", points=[(320, 240)])  # doctest: +SKIP
    >>> better = predictor.predict(  # doctest: +SKIP
    ...     "batfish", points=[(320, 240), (300, 200)], point_labels=[1, 0], mask_input=first.low_res_logits
    ... )
    >>> [r.presence for r in predictor.predict(["batfish", "diver"])]  # no point: every X, or none  # doctest: +SKIP
    [0.97, 0.02]
    ```

    Raises:
        TypeError: When `model` is neither a [`SamPtxForTextSegmentation`] nor a `PeftModel` around one, or
            `processor` is not a [`SamPtxProcessor`].
        ValueError: On a `max_cache_bytes` that is not a positive integer, or a processor for the other SAM.
    """

    def __init__(
        self, model: Any, processor: SamPtxProcessor | None = None, max_cache_bytes: int = DEFAULT_CACHE_BYTES
    ):
        base = model.get_base_model() if isinstance(model, PeftModel) else model
        if not isinstance(base, SamPtxForTextSegmentation):
            what = f"a PeftModel around a {type(base).__name__}" if base is not model else f"a {type(model).__name__}"
            if isinstance(model, str):
                what += f" ({model!r}; a folder or Hub id is loaded with SamPtxForTextSegmentation.from_pretrained)"
            raise TypeError(f"model is {what}, expected a SamPtxForTextSegmentation or a PeftModel around one")
        if isinstance(max_cache_bytes, bool) or not isinstance(max_cache_bytes, int) or max_cache_bytes <= 0:
            raise ValueError(f"max_cache_bytes must be a positive number of bytes, got {max_cache_bytes!r}")
        self.model = model
        if processor is not None:
            processor = check_processor(processor)
        self.processor = processor or getattr(model, "processor", None) or SamPtxProcessor.from_model(model)
        check_image_processor_matches(self.processor.image_processor, model.config.sam_config)
        self.max_cache_bytes = max_cache_bytes
        self._mask_size = low_res_mask_size(model.config.sam_config)
        self._class_embeddings: OrderedDict[str, ImageFeatures] = OrderedDict()
        self.hits = self.misses = 0
        self.reset_image()

    # ------------------------------------------------------------------------------------------------ the image

    def set_image(self, image: Any) -> None:
        """Preprocess `image` (a path, PIL image or RGB array) and run the image encoder's text-free blocks on it.

        Forgets the previous image and its classes. Setting the same image again keeps them.

        Raises:
            FileNotFoundError, ValueError: On a missing or unreadable image (the message names it), or one the model
                cannot take: empty, or (SAM) too elongated for its input, as [`segment`] refuses them.
        """
        pil_image = load_image(image)
        fingerprint = image_fingerprint(pil_image)
        if fingerprint == self._image_fingerprint:
            return
        self.processor.check_image_size((pil_image.height, pil_image.width))
        self.reset_image()
        encoding = prompt_processor(self.processor.image_processor)(images=[pil_image], return_tensors="pt")
        with eval_mode(self.model):
            self._trunk = self.model.get_image_trunk(encoding["pixel_values"])
        self._original_size = tuple(int(v) for v in encoding["original_sizes"][0])
        self._reshaped_size = tuple(int(v) for v in encoding["reshaped_input_sizes"][0])
        self._image_fingerprint = fingerprint

    def reset_image(self) -> None:
        """Forget the image, its trunk and its classes' embeddings."""
        self._trunk: ImageTrunk | None = None
        self._original_size: tuple[int, int] | None = None
        self._reshaped_size: tuple[int, int] | None = None
        self._image_fingerprint: str | None = None
        self._class_embeddings.clear()

    @property
    def is_image_set(self) -> bool:
        return self._trunk is not None

    @property
    def original_size(self) -> tuple[int, int] | None:
        """`(height, width)` of the image set, or None."""
        return self._original_size

    # ------------------------------------------------------------------------------------------------ prompts

    @torch.no_grad()
    def predict(
        self,
        text: str | Sequence[str],
        points: Sequence[Sequence[float]] | None = None,
        point_labels: Sequence[int] | None = None,
        box: Sequence[float] | None = None,
        mask_input: Any = None,
        multimask_output: bool = False,
        threshold: float = 0.0,
        presence_threshold: float = 0.5,
    ) -> PredictorResult | list[PredictorResult]:
        """Segment what `text` names in the image set, at the given prompts, as [`segment`] would.

        Without points and a box the class name alone is the prompt (SAM's "not a point", as [`segment`] sends it):
        every instance of the class, and with a presence head its `presence`.

        Args:
            text: A class name, or a list of them (one result each, in order).
            points: `(x, y)` pixels of the original image; `point_labels` 1 (foreground, the default) or 0.
            box: `(x1, y1, x2, y2)` pixels of the original image.
            mask_input: The `low_res_logits` of an earlier result, `(1, size, size)` or `(size, size)`; with a list
                of class names, a list with one per name.
            multimask_output: Predict SAM's three masks and keep the best by predicted IoU (all in `masks`).
            threshold: Logit above which a pixel is in the mask.
            presence_threshold: Presence probability below which a class is absent and its masks empty; unused by a
                model without a presence head.

        Returns:
            A [`PredictorResult`] for a class name, a list of them for a list of names.

        Raises:
            RuntimeError: When no image was set.
            ValueError: On bad class names, prompts that are not numbers or lie outside the image, a `mask_input` of
                the wrong shape or with values that are not finite numbers, a NaN `threshold` or a
                `presence_threshold` outside [0, 1].
            TypeError: On a `threshold` or `presence_threshold` that is not a real number, or a `multimask_output`
                that is not a bool.
        """
        threshold = check_threshold(threshold)
        presence_threshold = check_presence_threshold(presence_threshold)
        multimask_output = check_bool(multimask_output, "multimask_output")
        check_prompt_values(points, box)
        if self._trunk is None:
            raise RuntimeError("no image is set: call predictor.set_image(image) before predict")
        class_names = check_class_names(text)
        prompts = self.processor.encode_prompts(
            self._original_size, self._reshaped_size, class_names, points, point_labels, box
        )
        if points is None and box is None:
            prompts.update(text_only_prompt(len(class_names)))
        input_masks = self._input_masks(mask_input, len(class_names), isinstance(text, str))
        device = self.model.device
        with eval_mode(self.model):
            features = self._image_features(class_names, prompts["input_ids"], prompts["attention_mask"])
            outputs = self.model(
                image_embeddings=features,
                multimask_output=multimask_output,
                input_masks=input_masks.to(device) if input_masks is not None else None,
                **{key: value.to(device) for key, value in prompts.items()},
            )
        rows = len(class_names)
        results = results_from_outputs(
            self.processor,
            outputs.pred_masks,
            outputs.iou_scores,
            torch.tensor([self._original_size] * rows),
            torch.tensor([self._reshaped_size] * rows),
            class_names,
            threshold,
            presence_logits=outputs.presence_logits,
            presence_threshold=presence_threshold,
        )
        logits = outputs.pred_masks[:, 0].float().cpu().numpy()  # (rows, num_masks, size, size)
        predictions = [
            PredictorResult(**vars(result), low_res_logits=logits[row, [int(np.argmax(result.scores))]])
            for row, result in enumerate(results)
        ]
        return predictions[0] if isinstance(text, str) else predictions

    def cache_info(self) -> PredictorCacheInfo:
        """The memory the trunk and the classes take, and how often a class was found cached."""
        return PredictorCacheInfo(
            trunk_bytes=self._trunk.nbytes() if self._trunk is not None else 0,
            class_embeddings_bytes=sum(features.nbytes() for features in self._class_embeddings.values()),
            classes=len(self._class_embeddings),
            hits=self.hits,
            misses=self.misses,
            max_bytes=self.max_cache_bytes,
        )

    # ------------------------------------------------------------------------------------------------ internals

    def _image_features(
        self, class_names: list[str], input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> ImageFeatures:
        """The image embeddings of each row's class: cached ones, the missing ones computed in one batch."""
        missing = [row for row, name in enumerate(class_names) if name not in self._class_embeddings]
        missing = [row for row in missing if class_names.index(class_names[row]) == row]  # a repeated name once
        self.misses += len(missing)
        self.hits += len(class_names) - len(missing)
        computed: dict[str, ImageFeatures] = {}
        if missing:
            device = self.model.device
            features = self.model.get_image_embeddings(
                image_trunk=self._trunk,
                input_ids=input_ids[missing].to(device),
                attention_mask=attention_mask[missing].to(device),
            )
            for index, row in enumerate(missing):
                computed[class_names[row]] = features.row(index)
        rows = []
        for name in class_names:
            if name in self._class_embeddings:
                self._class_embeddings.move_to_end(name)
                rows.append(self._class_embeddings[name])
            else:
                rows.append(computed[name])
        for name, features in computed.items():
            self._remember(name, features)
        return ImageFeatures.cat(rows)

    def _remember(self, name: str, features: ImageFeatures) -> None:
        budget = self.max_cache_bytes - (self._trunk.nbytes() if self._trunk is not None else 0)
        if features.nbytes() > budget:
            return  # larger than the whole cache: used for this call only
        self._class_embeddings[name] = features
        while sum(cached.nbytes() for cached in self._class_embeddings.values()) > budget:
            self._class_embeddings.popitem(last=False)  # least recently used

    def _input_masks(self, mask_input: Any, rows: int, single: bool) -> torch.Tensor | None:
        """`mask_input` as `(rows, 1, size, size)` logits, or None."""
        if mask_input is None:
            return None
        masks = [mask_input] if single else list(mask_input)
        if len(masks) != rows:
            raise ValueError(f"mask_input has {len(masks)} masks for {rows} class names: give one per class name")
        size = self._mask_size
        tensors = []
        for mask in masks:
            tensor = mask_prompt(mask, "mask_input")
            if tuple(tensor.shape) != (1, size, size):
                raise ValueError(
                    f"mask_input must be the low_res_logits of an earlier result, shape (1, {size}, {size}) or "
                    f"({size}, {size}), got {tuple(tensor.shape)}"
                )
            tensors.append(tensor)
        return torch.stack(tensors).to(self.model.dtype)  # (rows, 1, size, size)


__all__ = ["DEFAULT_CACHE_BYTES", "PredictorCacheInfo", "PredictorResult", "SamPtxPredictor"]
