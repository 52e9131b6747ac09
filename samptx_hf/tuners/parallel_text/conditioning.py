"""How the class-prompt embedding reaches the Parallel-Text adapters during one forward pass.

The adapters sit inside SAM's image encoder, whose `forward` only carries image tokens. The text embedding of
each sample is therefore handed to them through a context variable that is set for the duration of the
image-encoder call (`text_conditioning`). Gradient checkpointing re-runs every ViT block during backward, after
that context has closed: `checkpoint_with_text_conditioning` captures the text embedding when a block is
checkpointed and re-enters it for the recomputation, so backward sees the text of *its* forward pass even when
several forward passes run before one backward.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch

_TEXT_EMBEDS: ContextVar[torch.Tensor | None] = ContextVar("samptx_text_embeds", default=None)


@contextmanager
def text_conditioning(text_embeds: torch.Tensor | None) -> Iterator[None]:
    """Make `text_embeds` (batch, text_dim) visible to every Parallel-Text adapter inside this block.

    Example:

    ```py
    >>> with text_conditioning(text_embeds):  # doctest: +SKIP
    ...     image_embeddings = peft_sam.vision_encoder(pixel_values).last_hidden_state
    ```
    """
    if text_embeds is not None and text_embeds.dim() != 2:
        raise ValueError(
            f"text_embeds must have shape (batch, text_dim), got a tensor of shape {tuple(text_embeds.shape)}"
        )
    token = _TEXT_EMBEDS.set(text_embeds)
    try:
        yield
    finally:
        _TEXT_EMBEDS.reset(token)


def current_text_embeds() -> torch.Tensor | None:
    """The text embeddings of the forward pass in progress, or `None` outside `text_conditioning`."""
    return _TEXT_EMBEDS.get()


def checkpoint_with_text_conditioning(checkpoint_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a gradient-checkpointing function so that recomputation in backward sees the forward's text."""

    def checkpoint_keeping_text(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        text_embeds = _TEXT_EMBEDS.get()

        def run_with_text(*inner_args: Any, **inner_kwargs: Any) -> Any:
            with text_conditioning(text_embeds):
                return function(*inner_args, **inner_kwargs)

        return checkpoint_fn(run_with_text, *args, **kwargs)

    checkpoint_keeping_text.__wrapped__ = checkpoint_fn
    return checkpoint_keeping_text
