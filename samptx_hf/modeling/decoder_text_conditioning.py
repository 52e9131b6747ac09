"""Text injection into SAM's mask decoder (the `mask_decoder` ablation).

The projected text embedding is added to the decoder's output tokens (the IoU token and the mask tokens, and SAM 2's
object-score token) where they enter its two-way transformer. `SamMaskDecoder` (and `Sam2MaskDecoder`) builds those
tokens inside its `forward`, so the addition is
a forward pre-hook on `mask_decoder.transformer` that reads the text of the forward pass in progress from a
context variable. The hook is a plain function (a `functools.partial`), so peft's copy of the decoder
(`modules_to_save`) carries it too.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

_DECODER_TEXT_TOKENS: ContextVar[torch.Tensor | None] = ContextVar("samptx_decoder_text_tokens", default=None)


@contextmanager
def decoder_text_conditioning(text_tokens: torch.Tensor | None) -> Iterator[None]:
    """Add `text_tokens` (batch, decoder_hidden) to the decoder's output tokens inside this block."""
    token = _DECODER_TEXT_TOKENS.set(text_tokens)
    try:
        yield
    finally:
        _DECODER_TEXT_TOKENS.reset(token)


def _add_text_to_output_tokens(
    module: nn.Module, args: tuple, kwargs: dict[str, Any], num_output_tokens: int
) -> tuple[tuple, dict[str, Any]] | None:
    text_tokens = _DECODER_TEXT_TOKENS.get()
    if text_tokens is None:
        return None
    point_embeddings = kwargs["point_embeddings"]  # (batch, point_batch, num_tokens, hidden)
    output_tokens = point_embeddings[:, :, :num_output_tokens] + text_tokens[:, None, None, :]
    conditioned = torch.cat([output_tokens, point_embeddings[:, :, num_output_tokens:]], dim=2)
    return args, {**kwargs, "point_embeddings": conditioned}


def install_output_token_conditioning(mask_decoder: nn.Module) -> RemovableHandle:
    """Register the hook on a transformers `SamMaskDecoder` or `Sam2MaskDecoder`; returns its handle."""
    num_output_tokens = 1 + mask_decoder.num_mask_tokens  # IoU token + mask tokens
    if hasattr(mask_decoder, "obj_score_token"):  # SAM 2: object-score token first
        num_output_tokens += 1
    hook = partial(_add_text_to_output_tokens, num_output_tokens=num_output_tokens)
    return mask_decoder.transformer.register_forward_pre_hook(hook, with_kwargs=True)
