"""The request side's price per call: route match, Phase 1 check, `to_v2`, /v2 check.

In-process and sans-IO: on the bundled snapshot it times, for getJob (a path
parameter and the Authorization header), listJobs (query parameters) and
createJob (a JSON body), the four pure steps a translated request takes before
anything is sent — what `Gateway._serve` calls between reading the body and
handing the call to the transport. Headers and query arrive as the multidicts
aiohttp hands the handler, so the lookups cost what they cost in the gateway.

    python -m benchmarks.requestpath [--n 50000] [--json]

Figures are CPU µs per call, best of three batches (the least disturbed one);
no speed is asserted anywhere (tests/benchmarks only checks that this runs).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from shimgw.config import parse_config
from shimgw.snapshot import ProxyOperation, Snapshot, build_snapshot
from shimgw.translate.engine import to_v2

STEPS = ("route", "parse", "to_v2", "call_check", "total")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One Phase 1 request as the handler sees it."""

    name: str
    method: str
    path: str
    query: Mapping[str, str]
    body: bytes = b""


SCENARIOS = (
    Scenario("getJob", "GET", "/api/v1/jobs/42", {}),
    Scenario(
        "listJobs",
        "GET",
        "/api/v1/jobs",
        {"status": "QUEUED", "owner": "alice", "page": "3", "per_page": "50"},
    ),
    Scenario(
        "createJob",
        "POST",
        "/api/v1/jobs",
        {},
        orjson.dumps(
            {
                "name": "nightly build",
                "engine": "shell",
                "owner": "alice",
                "priority": "high",
                "params": {"target": "all", "retries": 2, "clean": True},
                "tags": ["ci", "nightly"],
                "callback_url": "https://hooks.example.com/done",
            }
        ),
    ),
)


def cpu_us(fn: Callable[[], Any], n: int) -> float:
    """CPU µs per call, best of three batches."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - started) / n * 1e6)
    return best


def bundled_snapshot() -> Snapshot:
    config = parse_config({"upstreams": {"stable": {"url": "http://127.0.0.1:9"}}}, base=Path())
    return build_snapshot(config)


def steps(snapshot: Snapshot, scenario: Scenario) -> dict[str, Callable[[], Any]]:
    """The scenario's four steps as calls on prepared inputs, and all four in a row."""
    routes = snapshot.routes
    operation, params = routes.match(scenario.method, scenario.path)
    op = snapshot.operations[operation]
    if not isinstance(op, ProxyOperation):
        raise SystemExit(f"{operation} is not a translated operation in the bundled files")
    headers = CIMultiDictProxy(
        CIMultiDict({"Host": "gw", "X-Api-Key": "bench-key", "Accept": "*/*"})
    )
    query = MultiDictProxy(MultiDict(scenario.query))
    ctype = "application/json" if scenario.body else ""
    method, path, body = scenario.method, scenario.path, scenario.body
    extra = {"X-Correlation-ID": "0123456789abcdef"}
    request_check, plan, call_check = op.request_check, op.plan, op.call_check
    parsed = request_check.parse(params, query, headers, ctype, body)
    call = to_v2(plan, parsed, extra)
    call_check.check(call)

    def total() -> None:
        _, found = routes.match(method, path)
        checked = request_check.parse(found, query, headers, ctype, body)
        call_check.check(to_v2(plan, checked, {"X-Correlation-ID": "0123456789abcdef"}))

    return {
        "route": lambda: routes.match(method, path),
        "parse": lambda: request_check.parse(params, query, headers, ctype, body),
        "to_v2": lambda: to_v2(plan, parsed, {"X-Correlation-ID": "0123456789abcdef"}),
        "call_check": lambda: call_check.check(call),
        "total": total,
    }


def measure(n: int) -> dict[str, dict[str, float]]:
    snapshot = bundled_snapshot()
    return {
        scenario.name: {
            step: round(cpu_us(fn, n), 2) for step, fn in steps(snapshot, scenario).items()
        }
        for scenario in SCENARIOS
    }


def table(results: Mapping[str, Mapping[str, float]], steps: Sequence[str] = STEPS) -> str:
    width = max(12, *(len(step) + 2 for step in steps))
    lines = [f"{'µs per call':12s}" + "".join(f"{s:>{width}s}" for s in steps)]
    for name, row in results.items():
        lines.append(f"{name:12s}" + "".join(f"{row[s]:{width}.2f}" for s in steps))
    return "\n".join(lines)


def run_cli(
    argv: Sequence[str] | None,
    doc: str,
    measure: Callable[[int], Mapping[str, Mapping[str, float]]],
    steps: Sequence[str],
    default_n: int,
    n_help: str,
) -> None:
    """The command line both in-process benchmarks share: --n, --json, a table."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=default_n, help=n_help)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    results = measure(args.n)
    print(json.dumps(results, indent=2) if args.json else table(results, steps))


def main(argv: Sequence[str] | None = None) -> None:
    run_cli(argv, __doc__ or "", measure, STEPS, 50_000, "calls per batch")


if __name__ == "__main__":
    main()
