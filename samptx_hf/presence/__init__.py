"""Text-only prompting: "segment every X here, or say there is none".

A class name alone is a prompt; the answer is a mask of every instance of the class and a presence probability, so
that a class that is not in the image gets an empty mask instead of the most X-like object. SAM's mask decoder cannot
say "none" (trained towards empty masks for absent classes it still paints them), so the presence answer comes from
a head of its own:

- `head`: SAM 2's object-score head, or for SAM an extra decoder output token with a head of the same kind.
- `semantic`: a label map over a vocabulary from one text-only pass per class (`segment_semantic`).
"""

from .head import SamPresenceHead, install_presence_token, presence_token_readout
from .semantic import SemanticSegmentationResult, label_map_of, segment_semantic

__all__ = [
    "SamPresenceHead",
    "SemanticSegmentationResult",
    "install_presence_token",
    "label_map_of",
    "presence_token_readout",
    "segment_semantic",
]
