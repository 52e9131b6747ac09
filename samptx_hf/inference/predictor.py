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

from typing import Any

import torch
from peft import PeftModel

from ..modeling.image_encoding import ImageTrunk
from ..modeling.lru_cache import check_max_bytes
from ..modeling.modeling_samptx import SamPtxForTextSegmentation
from ..modeling.sam_backbones import low_res_mask_size
from ..processing.input_checks import mask_prompts
from ..processing.processing_samptx import (
    SamPtxProcessor,
    check_image_processor_matches,
    check_processor,
)
from .engine import DEFAULT_CACHE_BYTES, SegmentationEngine, eval_mode
from .predictor_base import PromptPredictor, PromptRequest
from .results import PredictorCacheInfo, PredictorResult
from .segment import image_fingerprint, load_image, text_only_prompt


class SamPtxPredictor(PromptPredictor):
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
        check_max_bytes(max_cache_bytes)
        self.model = model
        if processor is not None:
            processor = check_processor(processor)
        self.processor = processor or getattr(model, "processor", None) or SamPtxProcessor.from_model(model)
        check_image_processor_matches(self.processor.image_processor, model.config.sam_config)
        self._engine = SegmentationEngine(model, self.processor, max_cache_bytes, reserved_bytes=self._trunk_bytes)
        self._mask_size = low_res_mask_size(model.config.sam_config)
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
        self._trunk, (self._original_size,), (self._reshaped_size,) = self._engine.encode_images([pil_image])
        self._image_fingerprint = fingerprint

    def reset_image(self) -> None:
        """Forget the image, its trunk and its classes' embeddings."""
        self._trunk: ImageTrunk | None = None
        self._original_size: tuple[int, int] | None = None
        self._reshaped_size: tuple[int, int] | None = None
        self._image_fingerprint: str | None = None
        self._engine.class_features.clear()

    # ------------------------------------------------------------------------------------------------ prompts

    @torch.no_grad()
    def _predict(self, request: PromptRequest) -> list[PredictorResult]:
        prompts = self.processor.encode_prompts(
            self._original_size,
            self._reshaped_size,
            request.class_names,
            request.points,
            request.point_labels,
            request.box,
        )
        if request.points is None and request.box is None:
            prompts.update(text_only_prompt(len(request.class_names)))
        input_masks = self._input_masks(request.mask_input, len(request.class_names), request.single)
        device = self.model.device
        with eval_mode(self.model):
            features = self._engine.trunk_features(
                self._trunk, request.class_names, prompts["input_ids"], prompts["attention_mask"]
            )
            outputs = self.model(
                image_embeddings=features,
                multimask_output=request.multimask_output,
                input_masks=input_masks.to(device) if input_masks is not None else None,
                **{key: value.to(device) for key, value in prompts.items()},
            )
        rows = len(request.class_names)
        return self._engine.results(
            outputs,
            torch.tensor([self._original_size] * rows),
            torch.tensor([self._reshaped_size] * rows),
            request.class_names,
            request.threshold,
            request.presence_threshold,
            keep_low_res_logits=True,
        )

    def cache_info(self) -> PredictorCacheInfo:
        """The memory the trunk and the classes take, and how often a class was found cached."""
        cache = self._engine.class_features
        return PredictorCacheInfo(
            trunk_bytes=self._trunk_bytes(),
            class_embeddings_bytes=cache.nbytes(),
            classes=len(cache),
            hits=cache.hits,
            misses=cache.misses,
            max_bytes=self.max_cache_bytes,
        )

    # ------------------------------------------------------------------------------------------------ internals

    @property
    def max_cache_bytes(self) -> int:
        """Memory the trunk and the cached classes may take, in bytes; settable."""
        return self._engine.class_features.max_bytes

    @max_cache_bytes.setter
    def max_cache_bytes(self, max_bytes: int) -> None:
        self._engine.class_features.max_bytes = check_max_bytes(max_bytes)

    @property
    def hits(self) -> int:
        """How many class look-ups were answered from the cache."""
        return self._engine.class_features.hits

    @property
    def misses(self) -> int:
        """How many classes' features were computed."""
        return self._engine.class_features.misses

    def _trunk_bytes(self) -> int:
        return self._trunk.nbytes() if getattr(self, "_trunk", None) is not None else 0

    def _input_masks(self, mask_input: Any, rows: int, single: bool) -> torch.Tensor | None:
        """`mask_input` as `(rows, 1, size, size)` logits in the model's dtype, or None."""
        masks = mask_prompts(mask_input, rows, single, self._mask_size)
        return torch.from_numpy(masks).to(self.model.dtype) if masks is not None else None


__all__ = ["DEFAULT_CACHE_BYTES", "PredictorCacheInfo", "PredictorResult", "SamPtxPredictor"]
