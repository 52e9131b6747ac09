"""The package's one cache: bounded in bytes, least recently used out, each missing key computed once."""

import pytest

from samptx_hf.modeling.lru_cache import LruBytesCache


def test_missing_keys_are_computed_once_in_one_call_and_the_least_recently_used_go_first():
    calls = []

    def compute(rows):
        calls.append(list(rows))
        return [f"v{row}" for row in rows]

    reserved = {"bytes": 2}
    cache = LruBytesCache(5, nbytes=lambda value: 1, reserved_bytes=lambda: reserved["bytes"])  # room for 3
    assert cache.get_or_compute(["a", "b", "a"], compute) == ["v0", "v1", "v0"]
    assert calls == [[0, 1]] and (cache.hits, cache.misses) == (1, 2)
    cache.get_or_compute(["a"], compute)  # "b" is now the least recently used
    cache.get_or_compute(["c", "d"], lambda rows: ["c", "d"])
    assert list(cache) == ["a", "c", "d"] and cache.nbytes() == 3
    reserved["bytes"] = 4  # a larger trunk leaves room for one
    cache.get_or_compute(["e"], lambda rows: ["e"])
    assert list(cache) == ["e"]


def test_a_value_larger_than_the_budget_is_returned_not_kept():
    cache = LruBytesCache(10, nbytes=len)
    assert cache.get_or_compute(["big"], lambda rows: ["x" * 11]) == ["x" * 11]
    assert len(cache) == 0


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, True, "1"])
def test_the_bound_must_be_a_positive_number_of_bytes(max_bytes):
    with pytest.raises(ValueError, match="must be a positive number of bytes"):
        LruBytesCache(max_bytes, nbytes=len)
