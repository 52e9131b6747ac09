"""Text-only prompting: "segment every X here, or say there is none".

A class name alone is a prompt; the answer is a mask of every instance of the class and a presence probability, so
that a class that is not in the image gets an empty mask instead of the most X-like object. SAM's mask decoder cannot
say "none" (trained towards empty masks for absent classes it still paints them), so the presence answer comes from
a head of its own:

- `head`: SAM 2's object-score head, or for SAM an extra decoder output token with a head of the same kind.
"""

from .head import SamPresenceHead, install_presence_token, presence_token_readout

__all__ = ["SamPresenceHead", "install_presence_token", "presence_token_readout"]
