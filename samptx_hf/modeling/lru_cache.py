"""The one kind of cache of the package: values bounded in bytes, least recently used out.

Torch-free: the inference engine keeps `ImageFeatures` in it, the onnxruntime predictor dicts of numpy arrays, the
model's text-embedding cache tensors; each passes the function that sizes its values.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

Value = TypeVar("Value")


def check_max_bytes(max_bytes: Any, name: str = "max_cache_bytes") -> int:
    """`max_bytes` if it is a positive whole number of bytes.

    Raises:
        ValueError: Naming `name` and the value, on anything else (a bool, a float, zero or less).
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"{name} must be a positive number of bytes, got {max_bytes!r}")
    return max_bytes


class LruBytesCache(Generic[Value]):
    """Maps keys to values whose sizes (`nbytes(value)`, in bytes) add up to at most `max_bytes` minus what
    `reserved_bytes()` holds outside the cache (an image's trunk); the least recently used go first.

    A value larger than the whole budget is handed back but not kept. `hits` counts look-ups answered from the cache,
    `misses` the values computed.
    """

    def __init__(
        self,
        max_bytes: int,
        nbytes: Callable[[Value], int],
        reserved_bytes: Callable[[], int] = lambda: 0,
    ) -> None:
        self.max_bytes = check_max_bytes(max_bytes)
        self._nbytes = nbytes
        self._reserved_bytes = reserved_bytes
        self._values: OrderedDict[Hashable, Value] = OrderedDict()
        self.hits = self.misses = 0

    def get_or_compute(self, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence[Value]]) -> list[Value]:
        """The values of `keys`, in order: cached ones, the missing ones from one call `compute(rows)`, which gets
        the positions in `keys` of each missing key's first occurrence and returns one value per position."""
        missing = [row for row, key in enumerate(keys) if key not in self._values and keys.index(key) == row]
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        computed = dict(zip((keys[row] for row in missing), compute(missing), strict=True)) if missing else {}
        values = []
        for key in keys:
            if key in self._values:
                self._values.move_to_end(key)
                values.append(self._values[key])
            else:
                values.append(computed[key])
        for key, value in computed.items():
            self._remember(key, value)
        return values

    def _remember(self, key: Hashable, value: Value) -> None:
        budget = self.max_bytes - self._reserved_bytes()
        if self._nbytes(value) > budget:
            return  # larger than the whole cache: used for this call only
        self._values[key] = value
        while self.nbytes() > budget:
            self._values.popitem(last=False)  # least recently used

    def nbytes(self) -> int:
        """Bytes the cached values take."""
        return sum(self._nbytes(value) for value in self._values.values())

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys, least recently used first."""
        return iter(self._values)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def peek(self, key: Hashable) -> Value:
        """The value of `key`, without counting a hit or making it recent.

        Raises:
            KeyError: When `key` is not cached.
        """
        return self._values[key]

    def clear(self) -> None:
        """Forget every value (the counters stay)."""
        self._values.clear()


__all__ = ["LruBytesCache", "check_max_bytes"]
