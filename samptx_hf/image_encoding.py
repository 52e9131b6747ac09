"""SAM's image encoder over a batch in which one image may carry several class prompts.

Parallel-Text adapters make the image encoder depend on the text, so each (image, class) pair needs its own pass
through every adapted block. The blocks before the first block that reads the text do not depend on it: when an
image appears several times in a batch (one row per class prompt, as `SamPtxProcessor` and `segment(image,
[classes])` build it), those blocks run once for that image and only the blocks from the first text-reading one on
run per prompt. With adapters in the last blocks only (`ParallelTextConfig(layers_to_transform=[-2, -1])`), N classes
of one image cost about one image-encoder pass plus N passes through those blocks.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .tuners.parallel_text.conditioning import text_conditioning
from .tuners.parallel_text.layer import ParallelTextLayer

# Images are first compared on this many evenly spaced values, then in full where those agree.
_FINGERPRINT_VALUES = 4096


@dataclass
class RepeatedImages:
    """Which rows of a batch hold the same image.

    Args:
        first_rows (`torch.LongTensor` of shape `(num_distinct,)`): The first row of each distinct image.
        image_of_row (`torch.LongTensor` of shape `(batch,)`): For each row, its image's position in `first_rows`.
    """

    first_rows: torch.Tensor
    image_of_row: torch.Tensor


def find_repeated_images(pixel_values: torch.Tensor) -> RepeatedImages | None:
    """The rows of `pixel_values` (batch, ...) that hold identical images, or `None` when all of them differ.

    Rows are grouped when they are exactly equal. The cost is one read of a few thousand values per row, and a full
    comparison only for rows whose samples agree: small next to an image-encoder pass.
    """
    batch_size = pixel_values.shape[0]
    if batch_size < 2:
        return None
    rows = pixel_values.reshape(batch_size, -1)
    step = max(1, rows.shape[1] // _FINGERPRINT_VALUES)
    fingerprints = rows[:, ::step].float().cpu().numpy()
    first_rows: list[int] = []
    image_of_row: list[int] = []
    candidates: dict[bytes, list[int]] = {}  # fingerprint -> positions in first_rows
    for row in range(batch_size):
        same_fingerprint = candidates.setdefault(fingerprints[row].tobytes(), [])
        image = next((i for i in same_fingerprint if torch.equal(rows[row], rows[first_rows[i]])), None)
        if image is None:
            image = len(first_rows)
            first_rows.append(row)
            same_fingerprint.append(image)
        image_of_row.append(image)
    if len(first_rows) == batch_size:
        return None
    device = pixel_values.device
    return RepeatedImages(torch.tensor(first_rows, device=device), torch.tensor(image_of_row, device=device))


def image_encoder_blocks(vision_encoder: nn.Module) -> nn.ModuleList:
    """The blocks of SAM's ViT (`vision_encoder.layers`) or of SAM 2's Hiera (`vision_encoder.backbone.blocks`)."""
    if hasattr(vision_encoder, "backbone"):
        return vision_encoder.backbone.blocks
    return vision_encoder.layers


def first_text_block(vision_encoder: nn.Module) -> int:
    """Index of the first image-encoder block that reads the text; the number of blocks if none does."""
    blocks = image_encoder_blocks(vision_encoder)
    for index, block in enumerate(blocks):
        if any(isinstance(module, ParallelTextLayer) and module.reads_text for module in block.modules()):
            return index
    return len(blocks)


def encode_images(
    vision_encoder: nn.Module, pixel_values: torch.Tensor, text_embeds: torch.Tensor | None
) -> torch.Tensor:
    """Image embeddings (batch, channels, height, width) of `pixel_values` (batch, 3, H, W), one text per row.

    Equal to `vision_encoder(pixel_values).last_hidden_state` under `text_conditioning(text_embeds)`, with the
    text-free blocks computed once per distinct image of the batch.
    """
    repeated = find_repeated_images(pixel_values)
    if repeated is None:
        with text_conditioning(text_embeds):
            return vision_encoder(pixel_values).last_hidden_state

    # 1. Patch embedding and the blocks before the first text-reading one, once per distinct image.
    blocks = vision_encoder.layers
    shared_blocks = first_text_block(vision_encoder)
    hidden_states = vision_encoder.patch_embed(pixel_values[repeated.first_rows])  # (images, h, w, hidden)
    if vision_encoder.pos_embed is not None:
        hidden_states = hidden_states + vision_encoder.pos_embed
    for block in blocks[:shared_blocks]:
        hidden_states = block(hidden_states)
    if shared_blocks == len(blocks):  # nothing reads the text: the whole encoder is shared
        return vision_encoder.neck(hidden_states)[repeated.image_of_row]

    # 2. The blocks from the first text-reading one on, once per row (image and class prompt).
    hidden_states = hidden_states[repeated.image_of_row]  # (batch, h, w, hidden)
    with text_conditioning(text_embeds):
        for block in blocks[shared_blocks:]:
            hidden_states = block(hidden_states)
    return vision_encoder.neck(hidden_states)


def encode_images_hiera(
    vision_encoder: nn.Module, pixel_values: torch.Tensor, text_embeds: torch.Tensor | None
) -> list[torch.Tensor]:
    """SAM 2's FPN levels, high to low resolution, each (batch, channels, height, width), one text per row.

    Equal to `vision_encoder(pixel_values).fpn_hidden_states` (a `Sam2VisionModel`) under
    `text_conditioning(text_embeds)`, with the text-free blocks (and the stage outputs they end) computed once per
    distinct image of the batch.
    """
    repeated = find_repeated_images(pixel_values)
    if repeated is None:
        with text_conditioning(text_embeds):
            return list(vision_encoder(pixel_values).fpn_hidden_states)

    # 1. Patch embedding and the blocks before the first text-reading one, once per distinct image.
    backbone = vision_encoder.backbone
    shared_blocks = first_text_block(vision_encoder)
    hidden_states = backbone.patch_embed(pixel_values[repeated.first_rows])  # (images, h, w, hidden)
    hidden_states = hidden_states + backbone._get_pos_embed(hidden_states.shape[1:3])
    stage_outputs = []  # the output of each stage's last block, (rows, h_s, w_s, hidden_s)
    for index, block in enumerate(backbone.blocks[:shared_blocks]):
        hidden_states = block(hidden_states)
        if index in backbone.stage_ends:
            stage_outputs.append(hidden_states)

    # 2. The blocks from the first text-reading one on, once per row (image and class prompt).
    if shared_blocks < len(backbone.blocks):
        hidden_states = hidden_states[repeated.image_of_row]
        stage_outputs = [stage[repeated.image_of_row] for stage in stage_outputs]
        with text_conditioning(text_embeds):
            for index in range(shared_blocks, len(backbone.blocks)):
                hidden_states = backbone.blocks[index](hidden_states)
                if index in backbone.stage_ends:
                    stage_outputs.append(hidden_states)

    # 3. The neck, as `Sam2VisionModel` keeps its levels: the last `num_feature_levels`, high resolution first.
    fpn_hidden_states, _ = vision_encoder.neck(tuple(stage_outputs))
    fpn_hidden_states = list(fpn_hidden_states[-vision_encoder.num_feature_levels :][::-1])
    if shared_blocks == len(backbone.blocks):  # nothing reads the text: the whole encoder is shared
        fpn_hidden_states = [level[repeated.image_of_row] for level in fpn_hidden_states]
    return fpn_hidden_states
