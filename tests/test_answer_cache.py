"""The answer memo: bounded by bytes (with a per-entry overhead), least recently used out first."""

from __future__ import annotations

from shimgw.answer_cache import ENTRY_OVERHEAD, AnswerCache
from shimgw.messages import Phase1Response

SLOT = ENTRY_OVERHEAD + 100  # what one entry of 100 counted bytes costs


def answer(n: int) -> Phase1Response:
    return Phase1Response(status=200, body=b"x" * n, content_type="application/json")


def test_hits_misses_and_lru_by_bytes() -> None:
    cache = AnswerCache(max_bytes=4 * SLOT)
    for key in "abcd":
        cache.put(key, answer(len(key)), 100)
    assert cache.get("a") == answer(1)  # a is now the most recent
    cache.put("e", answer(5), 100)  # over the budget: the least recent (b) goes
    assert cache.get("b") is None
    assert all(cache.get(key) is not None for key in "acde")
    assert cache.size == 4 * SLOT and len(cache) == 4
    assert (cache.hits, cache.misses) == (5, 1)


def test_one_huge_answer_is_not_kept() -> None:
    cache = AnswerCache(max_bytes=4 * SLOT)
    cache.put("a", answer(1), 100)
    cache.put("huge", answer(2), 101)  # over a quarter of the budget with its overhead
    assert cache.get("huge") is None and cache.get("a") is not None


def test_many_tiny_entries_stay_within_the_budget() -> None:
    cache = AnswerCache(max_bytes=64 * 1024)
    for n in range(10_000):
        cache.put(("op", n), answer(0), 0)
    assert len(cache) == 64 * 1024 // ENTRY_OVERHEAD
    assert cache.size <= 64 * 1024
