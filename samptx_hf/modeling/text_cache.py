"""An in-memory cache of text embeddings, so that each distinct class prompt is encoded once."""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch


@dataclass
class TextCacheInfo:
    """Counters of a `TextEmbeddingCache`, like `functools.lru_cache`'s `cache_info()`."""

    hits: int
    misses: int
    size: int


class TextEmbeddingCache:
    """Maps a prompt (any hashable key: its tokens, in the model) to its embedding (text_dim,), computing missing
    ones in one batch.

    `misses` counts prompts that were encoded, `hits` every other look-up.
    """

    def __init__(self) -> None:
        self._embeddings: dict[Hashable, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    def get_or_compute(
        self, prompts: Sequence[Hashable], encode: Callable[[list[Hashable]], torch.Tensor]
    ) -> list[torch.Tensor]:
        """Embeddings of `prompts`, in order; `encode` receives each missing prompt once."""
        missing = list(dict.fromkeys(prompt for prompt in prompts if prompt not in self._embeddings))
        self.misses += len(missing)
        self.hits += len(prompts) - len(missing)
        if missing:
            embeddings = encode(missing)
            for prompt, embedding in zip(missing, embeddings, strict=True):
                self._embeddings[prompt] = embedding.detach()
        return [self._embeddings[prompt] for prompt in prompts]

    def info(self) -> TextCacheInfo:
        return TextCacheInfo(hits=self.hits, misses=self.misses, size=len(self._embeddings))

    def clear(self) -> None:
        self._embeddings.clear()
        self.hits = self.misses = 0
