"""The memory bound's parts that a table can check: the answer memo holds no more than
`cache.max_bytes` of real memory, whatever the mix of distinct answers."""

from __future__ import annotations

import random
import tracemalloc

from shimgw.answer_cache import AnswerCache, AnswerKey
from shimgw.messages import ParsedRequest, Phase1Response, V2Response


def test_memo_real_memory_stays_within_its_budget() -> None:
    budget = 4 << 20
    rng = random.Random(7)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        memo = AnswerCache(budget)
        for n in range(6000):  # many distinct answers: the memo fills and churns
            size = rng.choice([200, 1500, 12000, 60000])
            body = rng.randbytes(size)
            answer = V2Response(
                status=200, headers={"etag": f'"{n}"'}, content_type="application/json", body=body
            )
            request = ParsedRequest(
                operation="listJobs", path={}, query={"page": n, "per_page": 20}, headers={}
            )
            key = AnswerKey.of(answer, ("etag",), request)
            result = Phase1Response(
                status=200,
                body=rng.randbytes(size // 2),
                content_type="application/json",
                headers=(),
            )
            memo.put(key, result, key.cost(result))
            del body, answer, key, result
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert memo.size <= budget
    assert held - before <= budget * 1.05, f"memo holds {held - before} bytes for {budget}"
