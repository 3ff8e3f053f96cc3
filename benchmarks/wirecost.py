"""The on-the-wire check's price per getJob: CPU µs of the check against the whole request.

`make bench` runs this after the load runs. In-process it times, on the bundled
snapshot and the benchmark's canned Run (~600 bytes), the three per-answer steps
of a getJob that reaches the orchestrator: the /v2 answer check, `to_phase1`,
and the Phase 1 check of the gateway's own answer (`wirecheck.check_sent`, on the
value the body was encoded from, as the gateway runs it for a rule proven exact;
`wire_check_bytes_us` prices the byte path other rules take). The whole request's
CPU is the load run's `cpu_us_per_req` for getJob (the gateway process's CPU over
the requests it answered), read from the report `make bench` just wrote; the
check's share of it is the figure to keep under 3 %. The target is judged where
every answer is checked (memo off); with the memo on a repeated answer skips the
check (it was checked when stored), so those rows only show the share.

    python -m benchmarks.wirecost [--report benchmarks/results/report.json] [--n 20000]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks.requestpath import bundled_snapshot, cpu_us
from benchmarks.upstream import run_bytes
from shimgw.messages import ParsedRequest, V2Response
from shimgw.snapshot import ProxyOperation
from shimgw.translate.engine import to_phase1, translate_answer
from shimgw.wirecheck import check_sent

REPORT = Path(__file__).resolve().parent / "results" / "report.json"
TARGET_SHARE = 0.03


def parts(n: int) -> dict[str, float]:
    snapshot = bundled_snapshot()
    op = snapshot.operations["getJob"]
    if not isinstance(op, ProxyOperation) or op.reply_check is None:
        raise SystemExit("getJob is not a translated operation in the bundled files")
    body = run_bytes(42)
    parsed = ParsedRequest(
        operation="getJob", path={"job_id": 42}, query={}, headers={"x-api-key": "k"}
    )
    data = op.answer_check.check(200, {}, "application/json", body)
    answer = V2Response(
        status=200, headers={}, content_type="application/json", body=body, data=data
    )
    result, encoded_from = translate_answer(op.plan, snapshot.errors, parsed, answer)
    reply_check = op.reply_check
    return {
        "v2_answer_check_us": cpu_us(
            lambda: op.answer_check.check(200, {}, "application/json", body), n
        ),
        "to_phase1_us": cpu_us(lambda: to_phase1(op.plan, snapshot.errors, parsed, answer), n),
        "wire_check_us": cpu_us(lambda: check_sent(reply_check, result, "rid", encoded_from), n),
        "wire_check_bytes_us": cpu_us(lambda: check_sent(reply_check, result, "rid"), n),
    }


def every_answer_checked(report: Path) -> set[str]:
    """The variants whose label says the memo is off: every answer is checked there."""
    if not report.exists():
        return set()
    variants = json.loads(report.read_text())["meta"].get("variants", {})
    return {name for name, label in variants.items() if "memo off" in str(label)}


def request_cpu(report: Path) -> dict[str, float]:
    """getJob's CPU µs per request by shimgw variant, at the report's table concurrency."""
    if not report.exists():
        return {}
    result = json.loads(report.read_text())
    out: dict[str, float] = {}
    for row in result.get("rows", []):
        if row.get("scenario") != "getJob":
            continue
        for name, figures in row.get("proxies", {}).items():
            cpu = figures.get("cpu_us_per_req")
            if cpu and name in result["meta"].get("variants", {}):
                out[f"{name} c={row['concurrency']}"] = cpu
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wirecost", description=__doc__)
    p.add_argument("--report", type=Path, default=REPORT)
    p.add_argument("--n", type=int, default=20_000)
    a = p.parse_args(argv)
    measured = parts(a.n)
    for name, us in measured.items():
        print(f"{name:<20} {us:7.2f} µs")
    wire = measured["wire_check_us"]
    whole = request_cpu(a.report)
    if not whole:
        print(f"no getJob rows in {a.report}: run `make bench` for the whole-request CPU")
    judged = every_answer_checked(a.report)
    for variant, cpu in whole.items():
        share = wire / cpu
        verdict = "met" if share < TARGET_SHARE else "NOT met"
        if variant.split(" ")[0] not in judged:
            verdict = "memo on: a repeated answer was checked when stored, not judged"
        print(
            f"getJob {variant:<18} request {cpu:6.0f} µs CPU, wire check {share:6.2%} "
            f"(target < {TARGET_SHARE:.0%}: {verdict})"
        )
    if a.report.parent.exists():
        summary = {"parts_us": measured, "request_cpu_us": whole}
        (a.report.parent / "wirecost.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
