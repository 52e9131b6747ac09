"""The inference engine: image → trunk (once per image) → class features (once per (image, class)) → decoder →
results. The front-ends (`segment`, the predictor, the pipeline, the semantic map, `samptx label`'s annotator) are
its callers; the onnxruntime predictor (`samptx_hf.onnx.OnnxPredictor`) has the same structure over numpy.

- the trunk: the image encoder's blocks before the first text-reading one (`get_image_trunk`), for a batch of images;
- class features: the blocks from the first text-reading one on, per (image, class) row (`get_image_embeddings`),
  kept in one cache bounded in bytes, least recently used out ([`LruBytesCache`]);
- the decoder: the prompt encoder and the mask decoder (`forward(image_embeddings=...)`);
- results: masks upsampled to the image, thresholded, emptied for an absent class ([`results_from_logits`]).
"""

import contextlib
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import torch
from PIL import Image

from ..modeling.image_encoding import ImageTrunk
from ..modeling.lru_cache import LruBytesCache
from ..modeling.sam_backbones import ImageFeatures
from ..processing.image_processing_sam2 import prompt_processor
from ..processing.processing_samptx import SamPtxProcessor
from .results import SegmentationResult, results_from_logits

DEFAULT_CACHE_BYTES = 1 << 30  # 1 GiB: at SAM ViT-B, the trunk (12 MiB) and about 250 classes (4 MiB each)


class SegmentationEngine:
    """A model and its processor, with the cache of class features that every front-end shares.

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one.
        processor: Its [`SamPtxProcessor`].
        max_cache_bytes: Memory the cached class features (and `reserved_bytes()`) may take, in bytes.
        reserved_bytes: Bytes held outside the cache that count against `max_cache_bytes` (a predictor's trunk).

    Raises:
        ValueError: On a `max_cache_bytes` that is not a positive integer.
    """

    def __init__(
        self,
        model: Any,
        processor: SamPtxProcessor,
        max_cache_bytes: int = DEFAULT_CACHE_BYTES,
        reserved_bytes: Callable[[], int] = lambda: 0,
    ) -> None:
        self.model = model
        self.processor = processor
        self.class_features: LruBytesCache[ImageFeatures] = LruBytesCache(
            max_cache_bytes, ImageFeatures.nbytes, reserved_bytes
        )

    # ------------------------------------------------------------------------------------------------ the image

    @torch.no_grad()
    def encode_images(
        self, images: Sequence[Image.Image]
    ) -> tuple[ImageTrunk, list[tuple[int, int]], list[tuple[int, int]]]:
        """The trunk of a batch of images (the text-free blocks, once per image), their original and resized
        `(height, width)`."""
        encoding = prompt_processor(self.processor.image_processor)(images=list(images), return_tensors="pt")
        with eval_mode(self.model):
            trunk = self.model.get_image_trunk(encoding["pixel_values"])
        return trunk, _sizes(encoding["original_sizes"]), _sizes(encoding["reshaped_input_sizes"])

    # ------------------------------------------------------------------------------------------------ classes

    def image_features(self, keys: Sequence[Hashable], compute: Callable[[list[int]], ImageFeatures]) -> ImageFeatures:
        """The class features of each row, `keys[row]` naming its (image, class): cached ones, the missing ones from
        one call `compute(rows)` (the rows of each missing key's first occurrence, one batch row each)."""

        def compute_rows(missing: list[int]) -> list[ImageFeatures]:
            features = compute(missing)
            return [features.row(index) for index in range(len(missing))]

        return ImageFeatures.cat(self.class_features.get_or_compute(list(keys), compute_rows))

    def trunk_features(
        self,
        trunk: ImageTrunk,
        keys: Sequence[Hashable],
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
    ) -> ImageFeatures:
        """[`image_features`] of one image's rows from its trunk: the text-reading blocks for the missing rows'
        class prompts (`input_ids`/`attention_mask` or `text_embeds`, one row per key)."""
        device = self.model.device

        def compute(rows: list[int]) -> ImageFeatures:
            return self.model.get_image_embeddings(
                image_trunk=trunk,
                input_ids=input_ids[rows].to(device) if input_ids is not None else None,
                attention_mask=attention_mask[rows].to(device) if attention_mask is not None else None,
                text_embeds=text_embeds[rows] if text_embeds is not None else None,
            )

        return self.image_features(keys, compute)

    # ------------------------------------------------------------------------------------------------ the decoder

    @torch.no_grad()
    def forward(self, inputs: Mapping[str, torch.Tensor], **kwargs: Any) -> Any:
        """The model on `inputs` (moved to its device and dtype) in eval mode: from `pixel_values` the whole path
        in one call (the trunk once per image, shared by its rows), from `image_embeddings` the decoder alone."""
        with eval_mode(self.model):
            return self.model(**inputs_on_model(inputs, self.model), **kwargs)

    # ------------------------------------------------------------------------------------------------ results

    def results(
        self,
        outputs: Any,
        original_sizes: torch.Tensor,
        reshaped_input_sizes: torch.Tensor,
        class_names: Sequence[str],
        threshold: float = 0.0,
        presence_threshold: float = 0.5,
        keep_logits: bool = False,
        keep_low_res_logits: bool = False,
    ) -> list[SegmentationResult]:
        """One result per row of the model's `outputs` (see [`results_from_outputs`]), from float32 logits whatever
        dtype the model computes in."""
        return results_from_outputs(
            self.processor,
            outputs.pred_masks.float(),
            outputs.iou_scores,
            original_sizes,
            reshaped_input_sizes,
            class_names,
            threshold,
            presence_logits=outputs.presence_logits,
            presence_threshold=presence_threshold,
            keep_logits=keep_logits,
            keep_low_res_logits=keep_low_res_logits,
        )


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """`model` in eval mode inside the block, back in training mode after if it was. Switched only when needed:
    switching walks every module, a cost of the order of a click's decoder at the tiny size."""
    was_training = model.training
    if was_training:
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def inputs_on_model(inputs: Mapping[str, torch.Tensor], model: Any) -> dict[str, torch.Tensor]:
    """`inputs` on the model's device, floating-point tensors in its dtype."""
    parameter = next(model.parameters())
    return {
        key: value.to(device=parameter.device, dtype=parameter.dtype if value.is_floating_point() else value.dtype)
        for key, value in inputs.items()
    }


def results_from_outputs(
    processor: SamPtxProcessor,
    pred_masks: torch.Tensor,
    iou_scores: torch.Tensor,
    original_sizes: torch.Tensor,
    reshaped_input_sizes: torch.Tensor,
    class_names: Sequence[str],
    threshold: float = 0.0,
    presence_logits: torch.Tensor | None = None,
    presence_threshold: float = 0.5,
    keep_logits: bool = False,
    keep_low_res_logits: bool = False,
) -> list[SegmentationResult]:
    """One [`SegmentationResult`] per sample: masks upsampled to the image size, the best by predicted IoU first.

    Args:
        pred_masks (`torch.Tensor` of shape `(samples, 1, num_masks, height, width)`): The model's mask logits.
        iou_scores (`torch.Tensor` of shape `(samples, 1, num_masks)`): The model's predicted IoUs.
        original_sizes, reshaped_input_sizes (`torch.Tensor` of shape `(samples, 2)`): From the processor.
        class_names: The class name of each sample.
        threshold: Logit above which a pixel is in the mask.
        presence_logits (`torch.Tensor` of shape `(samples, 1, 1)`, *optional*): The model's presence answer; a
            sample whose presence (sigmoid) is below `presence_threshold` gets empty masks.
        presence_threshold: Presence probability below which a sample's class is absent.
        keep_logits: Keep the best mask's upsampled logits in each result's `logits`.
        keep_low_res_logits: Return [`PredictorResult`]s with the best mask's decoder logits in `low_res_logits`.
    """
    upsampled = processor.post_process_masks(
        pred_masks, original_sizes, reshaped_input_sizes, binarize=False
    )  # per sample: (point_batch=1, num_masks, height, width) logits
    presences = None
    if presence_logits is not None:
        presences = torch.sigmoid(presence_logits[:, 0, 0].float()).cpu().tolist()
    return results_from_logits(
        [sample_logits[0].numpy() for sample_logits in upsampled],
        iou_scores[:, 0].float().cpu().numpy(),
        class_names,
        threshold,
        presences,
        presence_threshold,
        keep_logits=keep_logits,
        low_res_logits=pred_masks[:, 0].float().cpu().numpy() if keep_low_res_logits else None,
    )


def _sizes(sizes: torch.Tensor) -> list[tuple[int, int]]:
    return [tuple(int(value) for value in size) for size in sizes]


__all__ = ["DEFAULT_CACHE_BYTES", "SegmentationEngine", "eval_mode", "inputs_on_model", "results_from_outputs"]
