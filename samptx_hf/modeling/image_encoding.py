"""SAM's image encoder over a batch in which one image may carry several class prompts.

Parallel-Text adapters make the image encoder depend on the text, so each (image, class) pair needs its own pass
through every adapted block. The blocks before the first block that reads the text do not depend on it: when an
image appears several times in a batch (one row per class prompt, as `SamPtxProcessor` and `segment(image,
[classes])` build it), those blocks run once for that image and only the blocks from the first text-reading one on
run per prompt. With adapters in the last blocks only (`ParallelTextConfig(layers_to_transform=[-2, -1])`), N classes
of one image cost about one image-encoder pass plus N passes through those blocks.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..tuners.parallel_text.conditioning import text_conditioning
from ..tuners.parallel_text.layer import ParallelTextLayer

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


def repeated_images_from_groups(image_groups: Sequence[int], device: torch.device) -> RepeatedImages | None:
    """[`RepeatedImages`] from a label per row (rows with equal labels hold the same image), or `None` when every
    row has its own image. The labels are host values (e.g. the collator's `image_groups`): nothing is read back
    from the device.
    """
    first_rows: list[int] = []
    image_of_row: list[int] = []
    position: dict[int, int] = {}
    for row, group in enumerate(image_groups):
        group = int(group)
        if group not in position:
            position[group] = len(first_rows)
            first_rows.append(row)
        image_of_row.append(position[group])
    if len(first_rows) == len(image_of_row):
        return None
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


@dataclass
class ImageTrunk:
    """The image encoder's state after its text-free blocks: what every class prompt of an image shares.

    The blocks before the first block that reads the text (`first_text_block`) do not depend on the class; a new
    class on a known image runs only the blocks from that one on ([`encode_from_trunk`]).

    Args:
        hidden_states (`torch.FloatTensor` of shape `(images, height, width, hidden)`): The output of the last
            text-free block (of the patch embedding when there is none).
        stage_outputs (`list[torch.FloatTensor]`): SAM 2 only: the outputs of the Hiera stages the trunk finished,
            `(images, h_s, w_s, hidden_s)`, which the FPN neck reads; empty for SAM.
        num_blocks (`int`): How many blocks the trunk ran: valid for a model whose first text-reading block is
            this one.
    """

    hidden_states: torch.Tensor
    stage_outputs: list[torch.Tensor]
    num_blocks: int

    @property
    def num_images(self) -> int:
        return self.hidden_states.shape[0]

    def nbytes(self) -> int:
        """Memory held by the trunk's tensors, in bytes."""
        tensors = [self.hidden_states, *self.stage_outputs]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def _is_hiera(vision_encoder: nn.Module) -> bool:
    return hasattr(vision_encoder, "backbone")


def encode_trunk(vision_encoder: nn.Module, pixel_values: torch.Tensor) -> ImageTrunk:
    """Patch embedding and the text-free blocks of the image encoder, once per image of `pixel_values` (images, 3,
    H, W); no text is needed (the blocks that read it come after)."""
    num_blocks = first_text_block(vision_encoder)
    stage_outputs: list[torch.Tensor] = []
    if _is_hiera(vision_encoder):
        backbone = vision_encoder.backbone
        hidden_states = backbone.patch_embed(pixel_values)  # (images, h, w, hidden)
        hidden_states = hidden_states + backbone._get_pos_embed(hidden_states.shape[1:3])
        for index, block in enumerate(backbone.blocks[:num_blocks]):
            hidden_states = block(hidden_states)
            if index in backbone.stage_ends:
                stage_outputs.append(hidden_states)
    else:
        hidden_states = vision_encoder.patch_embed(pixel_values)  # (images, h, w, hidden)
        if vision_encoder.pos_embed is not None:
            hidden_states = hidden_states + vision_encoder.pos_embed
        for block in vision_encoder.layers[:num_blocks]:
            hidden_states = block(hidden_states)
    return ImageTrunk(hidden_states, stage_outputs, num_blocks)


def encode_from_trunk(
    vision_encoder: nn.Module,
    trunk: ImageTrunk,
    text_embeds: torch.Tensor | None,
    image_of_row: torch.Tensor | None = None,
) -> torch.Tensor | list[torch.Tensor]:
    """The image encoder's output for rows of (image, class): the blocks from the first text-reading one on, under
    `text_conditioning(text_embeds)`, then the neck.

    Args:
        vision_encoder: SAM's `SamVisionEncoder` or SAM 2's `Sam2VisionModel`.
        trunk: [`encode_trunk`]'s output for the images.
        text_embeds (`torch.FloatTensor` of shape `(rows, text_dim)`, *optional*): One text per row.
        image_of_row (`torch.LongTensor` of shape `(rows,)`, *optional*): Each row's image in the trunk; by default
            row `i` is image `i`.

    Returns:
        SAM: the image embeddings `(rows, channels, h, w)`. SAM 2: the FPN levels, high to low resolution.

    Raises:
        ValueError: When the trunk was computed with another number of text-free blocks than the model has now
            (adapters were added, removed or switched since).
    """
    blocks = image_encoder_blocks(vision_encoder)
    if trunk.num_blocks != first_text_block(vision_encoder):
        raise ValueError(
            f"the image trunk ran {trunk.num_blocks} text-free blocks, but the model's first text-reading block is "
            f"now {first_text_block(vision_encoder)}: the adapters changed since, compute the trunk again"
        )
    if image_of_row is None:
        image_of_row = torch.arange(trunk.num_images, device=trunk.hidden_states.device)
    hiera = _is_hiera(vision_encoder)
    shares_everything = trunk.num_blocks == len(blocks)  # nothing reads the text: the neck too runs once per image
    hidden_states, stage_outputs = trunk.hidden_states, list(trunk.stage_outputs)
    if not shares_everything:
        hidden_states = hidden_states[image_of_row]  # (rows, h, w, hidden)
        stage_outputs = [stage[image_of_row] for stage in stage_outputs]
        with text_conditioning(text_embeds):
            for index in range(trunk.num_blocks, len(blocks)):
                hidden_states = blocks[index](hidden_states)
                if hiera and index in vision_encoder.backbone.stage_ends:
                    stage_outputs.append(hidden_states)
    if not hiera:
        image_embeddings = vision_encoder.neck(hidden_states)  # (images or rows, c, h, w)
        return image_embeddings[image_of_row] if shares_everything else image_embeddings
    # The neck, as `Sam2VisionModel` keeps its levels: the last `num_feature_levels`, high resolution first.
    fpn_hidden_states, _ = vision_encoder.neck(tuple(stage_outputs))
    levels = list(fpn_hidden_states[-vision_encoder.num_feature_levels :][::-1])
    return [level[image_of_row] for level in levels] if shares_everything else levels


def encode_images(
    vision_encoder: nn.Module,
    pixel_values: torch.Tensor,
    text_embeds: torch.Tensor | None,
    image_groups: Sequence[int] | None = None,
) -> torch.Tensor | list[torch.Tensor]:
    """The image encoder's output for `pixel_values` (batch, 3, H, W), one text per row: SAM's image embeddings
    (batch, channels, height, width), or SAM 2's FPN levels, high to low resolution.

    Equal to `vision_encoder(pixel_values)` (its `last_hidden_state`, or `fpn_hidden_states` for SAM 2) under
    `text_conditioning(text_embeds)`, with the text-free blocks computed once per distinct image of the batch.
    `image_groups` (one label per row, equal for rows of one image, as `SamPtxDataCollator` gives them) says which
    rows share an image; without it the rows are compared ([`find_repeated_images`], which reads pixel values
    back from the device).
    """
    if image_groups is not None:
        if len(image_groups) != pixel_values.shape[0]:
            raise ValueError(
                f"image_groups has {len(image_groups)} labels for {pixel_values.shape[0]} rows: expected one per row"
            )
        repeated = repeated_images_from_groups(image_groups, pixel_values.device)
    else:
        repeated = find_repeated_images(pixel_values)
    if repeated is None:
        with text_conditioning(text_embeds):
            outputs = vision_encoder(pixel_values)
        return list(outputs.fpn_hidden_states) if _is_hiera(vision_encoder) else outputs.last_hidden_state
    trunk = encode_trunk(vision_encoder, pixel_values[repeated.first_rows])
    return encode_from_trunk(vision_encoder, trunk, text_embeds, repeated.image_of_row)
