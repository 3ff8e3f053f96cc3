"""The answer memo: bounded by bytes, least recently used out first."""

from __future__ import annotations

from shimgw.answer_cache import AnswerCache
from shimgw.messages import Phase1Response


def answer(n: int) -> Phase1Response:
    return Phase1Response(200, b"x" * n, "application/json")


def test_hits_misses_and_lru_by_bytes() -> None:
    cache = AnswerCache(max_bytes=1000)
    for key in "abcd":
        cache.put(key, answer(len(key)), 250)
    assert cache.get("a") == answer(1)  # a is now the most recent
    cache.put("e", answer(5), 250)  # over 1000 bytes: the least recent (b) goes
    assert cache.get("b") is None
    assert all(cache.get(key) is not None for key in "acde")
    assert cache.size == 1000 and len(cache) == 4
    assert (cache.hits, cache.misses) == (5, 1)


def test_one_huge_answer_is_not_kept() -> None:
    cache = AnswerCache(max_bytes=400)
    cache.put("a", answer(1), 100)
    cache.put("huge", answer(2), 101)  # over a quarter of the budget
    assert cache.get("huge") is None and cache.get("a") is not None
