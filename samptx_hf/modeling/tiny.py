"""Tiny random SAM-PTx configurations and a character-level CLIP tokenizer.

They let tests, the default training run and benchmarks build a complete model offline, in seconds, with the
same code paths as the real ViT-B checkpoints.
"""

import string

from transformers import CLIPTextConfig, CLIPTokenizer, Sam2Config, Sam2HieraDetConfig, SamConfig

from .configuration_samptx import SamPtxConfig

# The training flags' shorthands for a frozen component (`--sam_model_name_or_path tiny`): the built-in pretrained
# tiny base (`samptx_hf:tiny-sam`, `samptx_hf:tiny-clip`), or a tiny random one built for the run (fast tests).
TINY = "tiny"
TINY_RANDOM = "tiny-random"

_SPECIAL_TOKENS = {"<|startoftext|>": 0, "<|endoftext|>": 1}
_CHARACTERS = string.ascii_lowercase + string.digits + "-'"


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is single characters (no merges): every word is spelled out."""
    vocab = dict(_SPECIAL_TOKENS)
    for character in _CHARACTERS:
        vocab[character] = len(vocab)
        vocab[character + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def tiny_sam_config(
    image_size: int = 64,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    initializer_range: float = 0.02,
    decoder_hidden_size: int = 16,
) -> SamConfig:
    """A SAM with SAM's structure (windowed + global attention, neck, two-way decoder) at toy size.

    `initializer_range` defaults to 0.02, not SAM's 1e-10, so that a random model predicts varied masks.
    `decoder_hidden_size` is the width of the neck, prompt encoder and mask decoder (and twice the number of random
    Fourier positional features).
    """
    patch_size = 8
    embedding_size = image_size // patch_size
    return SamConfig(
        vision_config={
            "hidden_size": hidden_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": patch_size,
            "output_channels": decoder_hidden_size,
            "window_size": 2,
            "global_attn_indexes": [num_hidden_layers - 1],
            "mlp_dim": 2 * hidden_size,
            "num_pos_feats": decoder_hidden_size // 2,
            "initializer_range": initializer_range,
        },
        prompt_encoder_config={
            "hidden_size": decoder_hidden_size,
            "image_size": image_size,
            "patch_size": patch_size,
            "image_embedding_size": embedding_size,
        },
        mask_decoder_config={
            "hidden_size": decoder_hidden_size,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "mlp_dim": 2 * decoder_hidden_size,
            "iou_head_hidden_dim": decoder_hidden_size,
        },
        initializer_range=initializer_range,
    )


def pretrained_tiny_sam_config() -> SamConfig:
    """The architecture of the built-in pretrained tiny SAM (`samptx_hf:tiny-sam`, see `samptx_hf.pretrained`).

    128 px, patch 8, a 64-wide 4-block image encoder, and a 64-wide neck, prompt encoder and mask decoder: with the
    16-wide decoder of `tiny_sam_config` a tiny SAM never learns to use a point prompt (see docs/method.md).
    """
    return tiny_sam_config(image_size=128, hidden_size=64, num_hidden_layers=4, decoder_hidden_size=64)


def tiny_sam2_config(
    image_size: int = 64,
    embed_dim_per_stage: tuple[int, ...] = (8, 16, 32, 64),
    blocks_per_stage: tuple[int, ...] = (1, 1, 2, 1),
    decoder_hidden_size: int = 16,
    initializer_range: float = 0.2,
) -> Sam2Config:
    """A SAM 2 with SAM 2's structure at toy size: a four-stage Hiera (patch stride 4, query pooling between stages,
    windowed and global attention), the FPN neck with its two high-resolution levels, the prompt encoder and the mask
    decoder with its object-score token.

    The image embedding is `image_size / 16` square as in SAM 2 (4 x 4 at 64 px), the low-resolution masks
    `image_size / 4`. `initializer_range` defaults to 0.2, not SAM 2's 0.02, so that a random model predicts mask
    logits of order 1 (about 1e-5 at 0.02). `dynamic_multimask_via_stability` is off: SAM-PTx trains and evaluates
    the single-mask output token, which SAM 2 would otherwise swap at inference for an untrained multimask token
    when unstable.
    """
    stage0 = image_size // 4
    return Sam2Config(
        vision_config={
            "backbone_config": Sam2HieraDetConfig(
                hidden_size=embed_dim_per_stage[0],
                image_size=[image_size, image_size],
                blocks_per_stage=list(blocks_per_stage),
                embed_dim_per_stage=list(embed_dim_per_stage),
                num_attention_heads_per_stage=[1, 1, 2, 4],
                window_size_per_stage=[8, 4, 4, 2],
                global_attention_blocks=[sum(blocks_per_stage) - 2],
                initializer_range=initializer_range,
            ),
            "backbone_channel_list": list(embed_dim_per_stage[::-1]),
            "backbone_feature_sizes": [[stage0, stage0], [stage0 // 2, stage0 // 2], [stage0 // 4, stage0 // 4]],
            "fpn_hidden_size": decoder_hidden_size,
            "initializer_range": initializer_range,
        },
        prompt_encoder_config={
            "hidden_size": decoder_hidden_size,
            "image_size": image_size,
            "patch_size": 16,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": decoder_hidden_size,
            "mlp_dim": 2 * decoder_hidden_size,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": decoder_hidden_size,
            "dynamic_multimask_via_stability": False,
        },
        initializer_range=initializer_range,
    )


def pretrained_tiny_sam2_config() -> Sam2Config:
    """The architecture of the built-in pretrained tiny SAM 2 (`samptx_hf:tiny-sam2`, see `samptx_hf.pretrained`).

    128 px; Hiera stages 16/32/64/128 wide with 1/1/2/1 blocks (32 x 32 tokens in stage 0 down to 4 x 4); a 64-wide
    neck, prompt encoder and mask decoder on an 8 x 8 image embedding, with the 32 x 32 and 16 x 16 high-resolution
    features; 32 x 32 low-resolution masks.
    """
    return tiny_sam2_config(
        image_size=128, embed_dim_per_stage=(16, 32, 64, 128), decoder_hidden_size=64, initializer_range=0.02
    )


def tiny_text_config(projection_dim: int = 12) -> CLIPTextConfig:
    """A one-layer CLIP text encoder matching `tiny_clip_tokenizer`.

    At CLIP's default initialisation a random encoder maps different words to nearly parallel embeddings (mean
    cosine 0.9 here); `initializer_factor=5` spreads them (about 0.5) so that a random frozen encoder still tells
    classes apart, as a trained one does.
    """
    return CLIPTextConfig(
        vocab_size=len(_SPECIAL_TOKENS) + 2 * len(_CHARACTERS),
        hidden_size=32,
        intermediate_size=64,
        initializer_factor=5.0,
        projection_dim=projection_dim,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=48,
        bos_token_id=_SPECIAL_TOKENS["<|startoftext|>"],
        eos_token_id=_SPECIAL_TOKENS["<|endoftext|>"],
        pad_token_id=_SPECIAL_TOKENS["<|endoftext|>"],
    )


def tiny_samptx_config(
    image_size: int = 64, hidden_size: int = 32, num_hidden_layers: int = 2, sam_version: int = 1, **kwargs
) -> SamPtxConfig:
    """A complete tiny [`SamPtxConfig`]; `kwargs` go to `SamPtxConfig` (e.g. `text_injection`).

    `sam_version=2` builds it on `tiny_sam2_config(image_size)` (the ViT sizes are then not used).
    """
    if sam_version not in (1, 2):
        raise ValueError(f"sam_version={sam_version!r}, expected 1 (SamModel) or 2 (Sam2Model)")
    if sam_version == 1:
        sam_config = tiny_sam_config(image_size, hidden_size, num_hidden_layers)
    else:
        sam_config = tiny_sam2_config(image_size)
    return SamPtxConfig(
        sam_config=sam_config,
        text_config=tiny_text_config(),
        **kwargs,
    )
