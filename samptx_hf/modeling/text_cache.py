"""An in-memory cache of text embeddings, so that each distinct class prompt is encoded once, bounded in bytes."""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

from .lru_cache import LruBytesCache

# 64 MiB: at CLIP ViT-B's 512-wide float32 embeddings (2 KiB each), about 32,000 prompts.
DEFAULT_TEXT_CACHE_BYTES = 64 << 20


@dataclass
class TextCacheInfo:
    """Counters of a `TextEmbeddingCache`, like `functools.lru_cache`'s `cache_info()`."""

    hits: int
    misses: int
    size: int


class TextEmbeddingCache:
    """Maps a prompt (any hashable key: its tokens, in the model) to its embedding (text_dim,), computing missing
    ones in one batch; beyond `max_bytes` the least recently used embeddings are dropped.

    `misses` counts prompts that were encoded, `hits` every other look-up.
    """

    def __init__(self, max_bytes: int = DEFAULT_TEXT_CACHE_BYTES) -> None:
        self._embeddings: LruBytesCache[torch.Tensor] = LruBytesCache(max_bytes, _tensor_bytes)

    def get_or_compute(
        self, prompts: Sequence[Hashable], encode: Callable[[list[Hashable]], torch.Tensor]
    ) -> list[torch.Tensor]:
        """Embeddings of `prompts`, in order; `encode` receives each missing prompt once."""
        return self._embeddings.get_or_compute(
            list(prompts), lambda rows: [embedding.detach() for embedding in encode([prompts[row] for row in rows])]
        )

    def info(self) -> TextCacheInfo:
        cache = self._embeddings
        return TextCacheInfo(hits=cache.hits, misses=cache.misses, size=len(cache))

    def clear(self) -> None:
        self._embeddings.clear()
        self._embeddings.hits = self._embeddings.misses = 0


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()
