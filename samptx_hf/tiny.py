"""Tiny random SAM-PTx configurations and a character-level CLIP tokenizer.

They let tests, the default training run and benchmarks build a complete model offline, in seconds, with the
same code paths as the real ViT-B checkpoints.
"""

import string

from transformers import CLIPTextConfig, CLIPTokenizer, SamConfig

from .configuration_samptx import SamPtxConfig

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
    image_size: int = 64, hidden_size: int = 32, num_hidden_layers: int = 2, **kwargs
) -> SamPtxConfig:
    """A complete tiny [`SamPtxConfig`]; `kwargs` go to `SamPtxConfig` (e.g. `text_injection`)."""
    return SamPtxConfig(
        sam_config=tiny_sam_config(image_size, hidden_size, num_hidden_layers),
        text_config=tiny_text_config(),
        **kwargs,
    )
