"""The two frozen SAMs that SAM-PTx adapts, and what differs between them.

transformers' `SamModel` (SAM, a plain ViT image encoder) and `Sam2Model` (SAM 2, a Hiera image encoder with an FPN
neck) share the prompt-encoder / two-way mask-decoder design but differ in how the image reaches the decoder:

| | `SamModel` | `Sam2Model` |
|---|---|---|
| image-encoder blocks | `vision_encoder.layers` (one width) | `vision_encoder.backbone.blocks` (width per stage) |
| input | longest side resized, padded to `image_size` | resized to the square `image_size` |
| decoder input | the neck's last feature map | the last FPN level + two high-resolution levels |
| no prompt at all | the decoder runs on its output tokens | an empty point (label -1), as `Sam2Model` pads |

The config's `model_type` (`"sam"` or `"sam2"`) chooses; everything else in the package goes through these
functions, so a [`SamPtxForTextSegmentation`] on either model runs the same steps.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedConfig, Sam2Model, SamModel

from .image_encoding import ImageTrunk, encode_from_trunk, encode_images

SAM_MODEL_CLASSES: dict[str, type[nn.Module]] = {"sam": SamModel, "sam2": Sam2Model}
# The checkpoints SAM-PTx builds its frozen model from. SAM 2 is published for the video model
# (`facebook/sam2.1-hiera-*` have `model_type: sam2_video`); its image part is a `Sam2Model`, which loads it and
# leaves the memory weights out.
CHECKPOINT_MODEL_CLASSES: dict[str, type[nn.Module]] = {**SAM_MODEL_CLASSES, "sam2_video": Sam2Model}


@dataclass
class ImageFeatures:
    """What the (text-conditioned) image encoder hands to the mask decoder.

    Args:
        image_embeddings (`torch.FloatTensor` of shape `(batch, channels, height, width)`):
            The image embedding the two-way transformer attends to.
        high_resolution_features (`tuple[torch.FloatTensor, torch.FloatTensor]`, *optional*):
            SAM 2 only: the two higher-resolution FPN levels after the mask decoder's `conv_s0`/`conv_s1`,
            `(batch, channels / 8, 4h, 4w)` and `(batch, channels / 4, 2h, 2w)`, added while upscaling the masks.
    """

    image_embeddings: torch.Tensor
    high_resolution_features: tuple[torch.Tensor, torch.Tensor] | None = None

    def row(self, index: int) -> "ImageFeatures":
        """Row `index` as its own tensors (a view would keep the whole batch in memory), batch size 1."""
        high = self.high_resolution_features
        return ImageFeatures(
            self.image_embeddings[index : index + 1].clone(),
            tuple(level[index : index + 1].clone() for level in high) if high is not None else None,
        )

    @classmethod
    def cat(cls, rows: list["ImageFeatures"]) -> "ImageFeatures":
        """The rows of several `ImageFeatures` as one batch, in order."""
        high = rows[0].high_resolution_features
        return cls(
            torch.cat([row.image_embeddings for row in rows]),
            tuple(torch.cat([row.high_resolution_features[i] for row in rows]) for i in range(len(high)))
            if high is not None
            else None,
        )

    def nbytes(self) -> int:
        """Memory held by the tensors, in bytes."""
        tensors = [self.image_embeddings, *(self.high_resolution_features or ())]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def sam_model_type(sam_config: PreTrainedConfig) -> str:
    """`"sam"` or `"sam2"` (the config class's); `ValueError` naming the supported ones for any other config."""
    model_type = getattr(type(sam_config), "model_type", None)
    if model_type not in SAM_MODEL_CLASSES:
        raise ValueError(
            f"sam_config has model_type={model_type!r}; SAM-PTx adapts {sorted(SAM_MODEL_CLASSES)} "
            "(transformers' SamModel or Sam2Model)"
        )
    return model_type


def is_sam2(sam_config: PreTrainedConfig) -> bool:
    """Whether the frozen model is a `Sam2Model`."""
    return sam_model_type(sam_config) == "sam2"


def sam_model_class(sam_config: PreTrainedConfig) -> type[nn.Module]:
    """`SamModel` or `Sam2Model`, as `sam_config.model_type` says."""
    return SAM_MODEL_CLASSES[sam_model_type(sam_config)]


def sam_class_for_checkpoint(checkpoint_config: PreTrainedConfig) -> type[nn.Module]:
    """The model class that loads a checkpoint of this config: `SamModel` for SAM, `Sam2Model` for SAM 2 image or
    video checkpoints; `ValueError` naming the supported model types otherwise."""
    model_type = getattr(type(checkpoint_config), "model_type", None)
    if model_type not in CHECKPOINT_MODEL_CLASSES:
        raise ValueError(
            f"the SAM checkpoint has model_type={model_type!r}; SAM-PTx builds on {sorted(CHECKPOINT_MODEL_CLASSES)} "
            "checkpoints (transformers' SamModel or Sam2Model)"
        )
    return CHECKPOINT_MODEL_CLASSES[model_type]


def input_image_size(sam_config: PreTrainedConfig) -> int:
    """Side of the square `pixel_values` the model takes (1024 for the released checkpoints)."""
    if is_sam2(sam_config):
        height, width = sam_config.vision_config.backbone_config.image_size
        if height != width:
            raise ValueError(f"SAM-PTx needs a square SAM 2 input, got image_size={[height, width]}")
        return int(height)
    return int(sam_config.vision_config.image_size)


def low_res_mask_size(sam_config: PreTrainedConfig) -> int:
    """Side of the low-resolution `pred_masks` (four times the image embedding; 256 for the released models)."""
    prompt_config = sam_config.prompt_encoder_config
    if is_sam2(sam_config):
        return 4 * int(prompt_config.image_size) // int(prompt_config.patch_size)
    return 4 * int(prompt_config.image_embedding_size)


def image_embedding_shape(sam_config: PreTrainedConfig) -> tuple[int, int, int]:
    """`(channels, height, width)` of the image embedding the mask decoder attends to (256, 64, 64 when released)."""
    side = low_res_mask_size(sam_config) // 4
    return int(sam_config.prompt_encoder_config.hidden_size), side, side


def encode_image_features(
    sam: nn.Module,
    pixel_values: torch.Tensor,
    text_embeds: torch.Tensor | None,
    image_groups: Sequence[int] | None = None,
) -> ImageFeatures:
    """The image encoder's output for the mask decoder, the Parallel-Text adapters reading `text_embeds` (one row
    per image; rows of one image share the blocks before the first adapter that reads the text).

    For SAM 2 this is what `Sam2Model.forward` computes from `pixel_values`: the FPN levels, the mask decoder's
    `conv_s0`/`conv_s1` on the two high-resolution ones, and the no-memory embedding added to the last.
    `image_groups`: which rows share an image (see [`encode_images`]).
    """
    return _decoder_features(sam, encode_images(sam.vision_encoder, pixel_values, text_embeds, image_groups))


def image_features_from_trunk(
    sam: nn.Module, trunk: ImageTrunk, text_embeds: torch.Tensor | None, image_of_row: torch.Tensor | None = None
) -> ImageFeatures:
    """[`encode_image_features`] from an image's [`ImageTrunk`]: only the blocks that read the text run, per row."""
    return _decoder_features(sam, encode_from_trunk(sam.vision_encoder, trunk, text_embeds, image_of_row))


def _decoder_features(sam: nn.Module, encoder_output: torch.Tensor | list[torch.Tensor]) -> ImageFeatures:
    """SAM's image embeddings as they are; SAM 2's FPN levels (high to low resolution) as its decoder takes them."""
    if not isinstance(sam, Sam2Model):
        return ImageFeatures(encoder_output)  # (batch, c, h, w)
    feature_s0 = sam.mask_decoder.conv_s0(encoder_output[0])  # (batch, c / 8, 4h, 4w)
    feature_s1 = sam.mask_decoder.conv_s1(encoder_output[1])  # (batch, c / 4, 2h, 2w)
    no_memory = sam.no_memory_embedding.reshape(1, -1, 1, 1)  # (1, c, 1, 1)
    image_embeddings = encoder_output[-1] + no_memory  # (batch, c, h, w)
    return ImageFeatures(image_embeddings, (feature_s0, feature_s1))


def embed_prompts(
    sam: nn.Module,
    input_points: torch.Tensor | None,
    input_labels: torch.Tensor | None,
    input_boxes: torch.Tensor | None,
    batch_size: int,
    input_masks: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Sparse `(batch, point_batch, tokens, c)` and dense `(batch, c, h, w)` prompt embeddings, as the model's own
    `forward` computes them (SAM 2 gets one empty point, label -1, when there is neither a point nor a box).
    `input_masks` `(batch, 1, 4h, 4w)`: earlier low-resolution mask logits, SAM's mask prompt."""
    if isinstance(sam, Sam2Model) and input_points is None and input_boxes is None:
        device = sam.no_memory_embedding.device
        input_points = torch.zeros(batch_size, 1, 1, 2, dtype=sam.no_memory_embedding.dtype, device=device)
        input_labels = -torch.ones(batch_size, 1, 1, dtype=torch.int32, device=device)
    return sam.prompt_encoder(
        input_points=input_points, input_labels=input_labels, input_boxes=input_boxes, input_masks=input_masks
    )


def decode_masks(
    sam: nn.Module,
    features: ImageFeatures,
    sparse_embeddings: torch.Tensor | None,
    dense_embeddings: torch.Tensor,
    multimask_output: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Low-resolution mask logits `(batch, point_batch, masks, 4h, 4w)`, IoU scores `(batch, point_batch, masks)`
    and, for SAM 2, its object-score logits `(batch, point_batch, 1)` (None for SAM) from the mask decoder."""
    batch_size = features.image_embeddings.shape[0]
    image_positional_embeddings = sam.get_image_wide_positional_embeddings().repeat(batch_size, 1, 1, 1)
    decoder_inputs = {
        "image_embeddings": features.image_embeddings,
        "image_positional_embeddings": image_positional_embeddings,
        "sparse_prompt_embeddings": sparse_embeddings,
        "dense_prompt_embeddings": dense_embeddings,
        "multimask_output": multimask_output,
    }
    if isinstance(sam, Sam2Model):
        pred_masks, iou_scores, _, object_score_logits = sam.mask_decoder(
            **decoder_inputs, high_resolution_features=list(features.high_resolution_features)
        )
        return pred_masks, iou_scores, object_score_logits
    pred_masks, iou_scores = sam.mask_decoder(**decoder_inputs)
    return pred_masks, iou_scores, None


__all__ = [
    "CHECKPOINT_MODEL_CLASSES",
    "SAM_MODEL_CLASSES",
    "ImageFeatures",
    "decode_masks",
    "embed_prompts",
    "encode_image_features",
    "image_embedding_shape",
    "image_features_from_trunk",
    "input_image_size",
    "is_sam2",
    "low_res_mask_size",
    "sam_class_for_checkpoint",
    "sam_model_class",
    "sam_model_type",
]
