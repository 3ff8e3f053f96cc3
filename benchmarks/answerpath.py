"""The answer side's price per call, memo off: /v2 answer check, `to_phase1`, sent check.

In-process and sans-IO: on the bundled snapshot it feeds the canned /v2 answers
the benchmark upstream serves (benchmarks/upstream.py) — one Run for getJob,
the list of 20 Runs for listJobs, the 202 with Location for createJob — through
the calls `exchange.translate` makes when the answer memo is off:

    answer_check.check → to_phase1 → check_sent (phase1.yaml, on the answer to send)

Headers arrive as the lower-case dict the transport builds. The edge's own work
(the Reply, metrics, access line) is not here: it is timed elsewhere.

    python -m benchmarks.answerpath [--n 20000] [--json]

Figures are CPU µs per call, best of three batches (the least disturbed one);
no speed is asserted anywhere (tests/benchmarks only checks that this runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from benchmarks.requestpath import bundled_snapshot, cpu_us, run_cli
from benchmarks.upstream import LIST_BYTES, run_bytes
from shimgw.messages import ParsedRequest, V2Response
from shimgw.snapshot import ProxyOperation, Snapshot
from shimgw.translate.engine import to_phase1, translate_answer
from shimgw.wirecheck import check_sent

STEPS = ("answer_check", "to_phase1", "sent_check", "total")
RID = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One Phase 1 request and the /v2 answer the benchmark upstream gives it."""

    name: str
    method: str
    path: str
    query: Mapping[str, str]
    status: int
    answer: bytes
    answer_headers: Mapping[str, str]
    body: bytes = b""


def _headers(body: bytes, **extra: str) -> dict[str, str]:
    # What aiohttp's server sends, lower-cased as the transport's parser stores them.
    return {
        "content-type": "application/json; charset=utf-8",
        "content-length": str(len(body)),
        "date": "Sat, 28 Nov 2026 11:00:00 GMT",
        "server": "Python/3.11 aiohttp/3.9.5",
        **extra,
    }


_CREATED = run_bytes(1_000_000, "PENDING")
SCENARIOS = (
    Scenario("getJob", "GET", "/api/v1/jobs/42", {}, 200, run_bytes(42), _headers(run_bytes(42))),
    Scenario(
        "listJobs",
        "GET",
        "/api/v1/jobs",
        {"status": "RUNNING", "page": "1", "per_page": "20"},
        200,
        LIST_BYTES,
        _headers(LIST_BYTES),
    ),
    Scenario(
        "createJob",
        "POST",
        "/api/v1/jobs",
        {},
        202,
        _CREATED,
        _headers(_CREATED, location="/v2/runs/run-1000000"),
        orjson.dumps(
            {
                "name": "nightly build",
                "engine": "shell",
                "owner": "alice",
                "priority": "high",
                "params": {"target": "all", "retries": 2, "clean": True},
                "tags": ["ci", "nightly"],
            }
        ),
    ),
)


def parsed_request(snapshot: Snapshot, scenario: Scenario) -> tuple[ProxyOperation, ParsedRequest]:
    operation, params = snapshot.routes.match(scenario.method, scenario.path)
    op = snapshot.operations[operation]
    if not isinstance(op, ProxyOperation):
        raise SystemExit(f"{operation} is not a translated operation in the bundled files")
    headers = CIMultiDictProxy(CIMultiDict({"Host": "gw", "X-Api-Key": "bench-key"}))
    query = MultiDictProxy(MultiDict(scenario.query))
    ctype = "application/json" if scenario.body else ""
    return op, op.request_check.parse(params, query, headers, ctype, scenario.body)


def steps(snapshot: Snapshot, scenario: Scenario) -> dict[str, Callable[[], Any]]:
    """The scenario's answer-side steps as calls on prepared inputs, and all in a row."""
    op, parsed = parsed_request(snapshot, scenario)
    answer_check, plan, errors, reply_check = (
        op.answer_check,
        op.plan,
        snapshot.errors,
        op.reply_check,
    )
    if reply_check is None:
        raise SystemExit(f"{scenario.name}: the snapshot checks no Phase 1 answer")
    status, headers, body = scenario.status, dict(scenario.answer_headers), scenario.answer
    ctype = headers["content-type"].split(";", 1)[0]
    data = answer_check.check(status, headers, ctype, body)
    checked = V2Response(status=status, headers=headers, content_type=ctype, body=body, data=data)
    result, encoded_from = translate_answer(plan, errors, parsed, checked)
    check_sent(reply_check, result, RID, encoded_from)

    def total() -> None:
        got = answer_check.check(status, headers, ctype, body)
        answer = V2Response(status=status, headers=headers, content_type=ctype, body=body, data=got)
        sent, value = translate_answer(plan, errors, parsed, answer)
        check_sent(reply_check, sent, RID, value)

    return {
        "answer_check": lambda: answer_check.check(status, headers, ctype, body),
        "to_phase1": lambda: to_phase1(plan, errors, parsed, checked),
        "sent_check": lambda: check_sent(reply_check, result, RID, encoded_from),
        "total": total,
    }


def measure(n: int) -> dict[str, dict[str, float]]:
    snapshot = bundled_snapshot()
    return {
        scenario.name: {
            step: round(cpu_us(fn, max(1, n // (20 if scenario.name == "listJobs" else 1))), 2)
            for step, fn in steps(snapshot, scenario).items()
        }
        for scenario in SCENARIOS
    }


def main(argv: Sequence[str] | None = None) -> None:
    run_cli(argv, __doc__ or "", measure, STEPS, 20_000, "calls per batch (listJobs: n/20)")


if __name__ == "__main__":
    main()
