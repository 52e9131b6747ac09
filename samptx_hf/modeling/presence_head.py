"""The presence head: does the image hold what the class name names?

SAM 2's mask decoder has one: an object-score token among its output tokens and a 3-layer MLP on that token's output
(`obj_score_token`, `pred_obj_score_head`), which SAM-PTx trains when `SamPtxConfig.presence_head` is set. SAM's
decoder has none, so [`SamPresenceHead`] adds the same design: one more output token, appended after the prompt
tokens where it enters the two-way transformer (the IoU and mask tokens keep their positions), and an MLP on its
output. `SamMaskDecoder` builds its tokens inside `forward`, so the token enters through a forward pre-hook on
`mask_decoder.transformer` and its output is read by a forward hook; both are plain functions that read the token
of the forward pass in progress from a context variable, so peft's trained copy of the decoder (`modules_to_save`)
carries them too (as `samptx_hf.modeling.decoder_text_conditioning` does for the text).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle
from transformers.models.sam.modeling_sam import SamFeedForward

# The presence logit of an untrained head ([`SamPresenceHead.answer_present_`]): probability 1 in float32.
PRESENT_LOGIT = 20.0


class SamPresenceHead(nn.Module):
    """The presence token and its head for SAM's mask decoder, as SAM 2 has them (`obj_score_token`,
    `pred_obj_score_head`).

    Args:
        hidden_size (`int`): Width of the mask decoder's tokens (256 for the released SAMs).
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        # No child may end in "presence_head": peft matches `modules_to_save` names as suffixes.
        self.presence_token = nn.Embedding(1, hidden_size)
        self.presence_mlp = SamFeedForward(hidden_size, hidden_size, 1, 3)

    def forward(self, presence_token_out: torch.Tensor) -> torch.Tensor:
        """Presence logits `(batch, point_batch, 1)` from the token's transformer output `(batch, point_batch,
        hidden)`."""
        return self.presence_mlp(presence_token_out)

    @torch.no_grad()
    def answer_present_(self) -> "SamPresenceHead":
        """Make the head answer `PRESENT_LOGIT` (present, probability 1) whatever it is asked: a zero token and an MLP
        of zeros but its output bias. What a SAM without a trained presence answer says: no mask is emptied."""
        for parameter in self.parameters():
            parameter.zero_()
        self.presence_mlp.proj_out.bias.fill_(PRESENT_LOGIT)
        return self


@dataclass
class _PresenceReadout:
    token: torch.Tensor  # (1, hidden): the presence token of the forward pass in progress
    output: torch.Tensor | None = None  # (batch, point_batch, hidden): its output, once the transformer ran


_PRESENCE_READOUT: ContextVar[_PresenceReadout | None] = ContextVar("samptx_presence_readout", default=None)


@contextmanager
def presence_token_readout(token: torch.Tensor | None) -> Iterator[_PresenceReadout | None]:
    """Append `token` `(1, hidden)` to the decoder's tokens inside this block; the yielded readout's `output` holds
    the token's transformer output after the decoder ran. `None` adds nothing and yields `None`."""
    if token is None:
        yield None
        return
    readout = _PresenceReadout(token)
    context_token = _PRESENCE_READOUT.set(readout)
    try:
        yield readout
    finally:
        _PRESENCE_READOUT.reset(context_token)


def _append_presence_token(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict] | None:
    readout = _PRESENCE_READOUT.get()
    if readout is None:
        return None
    point_embeddings = kwargs["point_embeddings"]  # (batch, point_batch, tokens, hidden)
    batch_size, point_batch_size = point_embeddings.shape[:2]
    token = readout.token.to(point_embeddings.dtype)[None, None].expand(batch_size, point_batch_size, 1, -1)
    return args, {**kwargs, "point_embeddings": torch.cat([point_embeddings, token], dim=2)}


def _read_presence_token(module: nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
    readout = _PRESENCE_READOUT.get()
    if readout is not None:
        readout.output = output[0][:, :, -1, :]  # the queries' last token: the presence token


def install_presence_token(mask_decoder: nn.Module) -> tuple[RemovableHandle, RemovableHandle]:
    """Register the presence token's hooks on a transformers `SamMaskDecoder`; returns their handles."""
    return (
        mask_decoder.transformer.register_forward_pre_hook(_append_presence_token, with_kwargs=True),
        mask_decoder.transformer.register_forward_hook(_read_presence_token, with_kwargs=True),
    )
