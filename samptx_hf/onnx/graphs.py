"""The SAM-PTx model cut into the modules that become ONNX graphs, each with plain tensors in and out.

The split is the one the PyTorch inference already makes (`samptx_hf.modeling.image_encoding`): the text-free blocks of
the
image encoder once per image ([`TrunkGraph`]), the blocks that read the text and the neck once per (image, class)
row ([`ImageEncoderGraph`]), the prompt encoder and mask decoder per prompt ([`DecoderGraph`]), and CLIP's text
model ([`TextEncoderGraph`]). The text reaches the adapters and the decoder through context variables in PyTorch; here
each graph takes `text_embeds` as an input and enters those contexts inside its `forward`.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling.configuration_samptx import TextInjection
from ..modeling.decoder_text_conditioning import decoder_text_conditioning
from ..modeling.image_encoding import ImageTrunk, encode_trunk, first_text_block
from ..modeling.presence_head import presence_token_readout
from ..modeling.sam_backbones import ImageFeatures, decode_masks, image_features_from_trunk, is_sam2
from ..processing.input_checks import NOT_A_POINT_LABEL, POINT_PAD_LABEL


class TrunkGraph(nn.Module):
    """`pixel_values` (images, 3, H, W) -> the trunk's hidden states (images, h, w, C) and, for SAM 2, the outputs
    of the Hiera stages it finished."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.vision_encoder = model.sam.vision_encoder

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        trunk = encode_trunk(self.vision_encoder, pixel_values)
        return (trunk.hidden_states, *trunk.stage_outputs)


class ImageEncoderGraph(nn.Module):
    """The image encoder from the first text-reading block on, and the neck: the decoder's image features.

    Inputs, in order: the trunk's outputs (or `pixel_values` without a trunk), then `text_embeds` (rows, text_dim)
    when the adapters read the text. Outputs: `image_embeddings` (rows, C, h, w), and for SAM 2 the two
    high-resolution features after the decoder's `conv_s0` / `conv_s1`.
    """

    def __init__(self, model: nn.Module, with_trunk: bool, reads_text: bool) -> None:
        super().__init__()
        self.sam = model.sam
        self.with_trunk = with_trunk
        self.reads_text = reads_text
        self.num_blocks = first_text_block(model.sam.vision_encoder)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        text_embeds = inputs[-1] if self.reads_text else None
        image_inputs = inputs[:-1] if self.reads_text else inputs
        if self.with_trunk:
            trunk = ImageTrunk(image_inputs[0], list(image_inputs[1:]), self.num_blocks)
        else:
            trunk = encode_trunk(self.sam.vision_encoder, image_inputs[0])
        features = image_features_from_trunk(self.sam, trunk, text_embeds)
        return (features.image_embeddings, *(features.high_resolution_features or ()))


class DecoderGraph(nn.Module):
    """Prompt encoder and mask decoder, every prompt given as points (`samptx_hf.onnx.layout.decoder_prompt`).

    Inputs, in order: `image_embeddings` (rows, C, h, w) (+ SAM 2: `high_res_feats_0`, `high_res_feats_1`),
    `input_points` (rows, point_batch, n, 2) in the resized frame, `input_labels` (rows, point_batch, n) int64
    (-10 padding, -1 not a point, 0 background, 1 foreground, 2 / 3 a box's corners), `mask_input` (rows, 1, 4h,
    4w), `has_mask_input` (rows,) 1.0 where `mask_input` is a prompt, then `text_embeds` (rows, text_dim) for the
    decoder text injections. Outputs: `low_res_masks` (rows, point_batch, masks, 4h, 4w), `iou_scores` (rows,
    point_batch, masks), and `presence_logits` (rows, point_batch, 1) when the model has a presence head.

    The point embedding is the prompt encoder's own (`_embed_points` / `_embed_boxes` of SAM and SAM 2, which agree
    on it); the mask prompt is mixed in by `has_mask_input`, so one graph serves prompts with and without a mask.
    """

    def __init__(self, model: nn.Module, multimask_output: bool) -> None:
        super().__init__()
        self.sam = model.sam
        self.sam2 = is_sam2(model.config.sam_config)
        self.multimask_output = multimask_output
        self.text_injection = model.config.text_injection
        self.reads_text = self.text_injection in (TextInjection.PROMPT_ENCODER.value, TextInjection.MASK_DECODER.value)
        self.text_prompt_projection = model.text_prompt_projection
        self.presence_head = model.presence_head
        self.has_presence = bool(model.config.presence_head)

    def _label_embeddings(self) -> torch.Tensor:
        """The four point-type embeddings (background, foreground, box corners), (4, C)."""
        point_embed = self.sam.prompt_encoder.point_embed
        if isinstance(point_embed, nn.Embedding):
            return point_embed.weight
        return torch.cat([embedding.weight for embedding in point_embed])

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        prompt_encoder = self.sam.prompt_encoder
        size = prompt_encoder.input_image_size
        embedding = prompt_encoder.shared_embedding(points + 0.5, (size, size))  # (rows, point_batch, n, C)
        labels = labels[..., None]
        embedding = torch.where(labels == NOT_A_POINT_LABEL, prompt_encoder.not_a_point_embed.weight, embedding)
        embedding = torch.where(labels != POINT_PAD_LABEL, embedding, torch.zeros_like(embedding))
        label_embeddings = self._label_embeddings()
        for label in range(label_embeddings.shape[0]):
            embedding = torch.where(labels == label, embedding + label_embeddings[label], embedding)
        return embedding

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # 1. Inputs, in the order the docstring gives.
        inputs = list(inputs)
        image_embeddings = inputs.pop(0)
        high_resolution = (inputs.pop(0), inputs.pop(0)) if self.sam2 else None
        input_points, input_labels, mask_input, has_mask_input = (inputs.pop(0) for _ in range(4))
        text_embeds = inputs.pop(0) if self.reads_text else None
        rows = image_embeddings.shape[0]

        # 2. Prompt encoder: the points, the mask prompt where `has_mask_input`, the text token.
        sparse_embeddings = self._embed_points(input_points, input_labels)
        prompt_encoder = self.sam.prompt_encoder
        no_mask = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        has_mask = has_mask_input.reshape(-1, 1, 1, 1)
        dense_embeddings = has_mask * prompt_encoder.mask_embed(mask_input) + (1 - has_mask) * no_mask
        text_tokens = self.text_prompt_projection(text_embeds) if self.reads_text else None
        if self.text_injection == TextInjection.PROMPT_ENCODER.value:
            text_token = text_tokens[:, None, None, :].expand(rows, sparse_embeddings.shape[1], 1, -1)
            sparse_embeddings = torch.cat([sparse_embeddings, text_token], dim=2)
        decoder_text = text_tokens if self.text_injection == TextInjection.MASK_DECODER.value else None

        # 3. Mask decoder, with the text on its output tokens and the presence token read out, as the model does.
        presence_token = self.presence_head.presence_token.weight if self.presence_head is not None else None
        features = ImageFeatures(image_embeddings, high_resolution)
        with decoder_text_conditioning(decoder_text), presence_token_readout(presence_token) as readout:
            masks, iou_scores, object_score_logits = decode_masks(
                self.sam, features, sparse_embeddings, dense_embeddings, self.multimask_output
            )
        outputs = (masks, iou_scores)
        if readout is not None:
            outputs += (self.presence_head(readout.output),)
        elif self.has_presence:
            outputs += (object_score_logits,)
        return outputs


class TextEncoderGraph(nn.Module):
    """CLIP's text model: `input_ids`, `attention_mask` (prompts, length) -> `text_embeds` (prompts, text_dim), the
    projection (minus the empty-prompt embedding with `subtract_empty_prompt`, a constant of the graph) L2-normalised
    when the model normalises it: what the model feeds its adapters and decoder."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.text_encoder = model.text_encoder
        self.normalize = bool(model.config.normalize_text_embeds)
        self.empty_prompt_embeds = (
            model.empty_prompt_embedding().detach().clone() if model.config.subtract_empty_prompt else None
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        text_embeds = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).text_embeds
        if self.empty_prompt_embeds is not None:
            text_embeds = text_embeds - self.empty_prompt_embeds
        return F.normalize(text_embeds, dim=-1) if self.normalize else text_embeds


__all__ = ["DecoderGraph", "ImageEncoderGraph", "TextEncoderGraph", "TrunkGraph"]
