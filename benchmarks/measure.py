"""One measured load run against one proxy, and the steady-RSS check.

A run records the proxy's CPU time and peak memory around the load, so the
cost per request is the proxy's own and not the load generator's or the
upstream's (those run on another core).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks import procs
from benchmarks.load import LoadResult, Request, drive


@dataclass(frozen=True, slots=True)
class Driver:
    """How load is generated: the tool, and the taskset prefix for wrk."""

    tool: str
    wrk_prefix: Sequence[str] = ()

    def __call__(
        self, url: str, req: Request, concurrency: int, duration_s: float, cap: int
    ) -> LoadResult:
        return drive(self.tool, url, req, concurrency, duration_s, cap, self.wrk_prefix)


def measured_run(
    driver: Driver,
    pid: int,
    url: str,
    req: Request,
    concurrency: int,
    duration_s: float,
    cap: int,
    upstream_pid: int,
) -> dict[str, Any]:
    """One load run; the upstream's CPU is kept too, to show whether the load side saturated."""
    peak_reset = all(procs.reset_peak_rss(p) for p in procs.descendants(pid))
    cpu_before, up_before = procs.tree_cpu_seconds(pid), procs.cpu_seconds(upstream_pid)
    result = driver(url, req, concurrency, duration_s, cap)
    cpu = procs.tree_cpu_seconds(pid) - cpu_before
    up_cpu = procs.cpu_seconds(upstream_pid) - up_before
    memory = procs.tree_memory_kib(pid)
    per_req = 1e6 / result.requests if result.requests else math.nan
    return {
        **asdict(result),
        "cpu_s": cpu,
        "cpu_us_per_req": cpu * per_req if result.requests else None,
        "proxy_core_busy": cpu / result.duration_s if result.duration_s else None,
        "upstream_cpu_us_per_req": up_cpu * per_req if result.requests else None,
        "rss_kib": memory["VmRSS"],
        "peak_rss_kib": memory["VmHWM"],
        "peak_is_per_run": peak_reset,
    }


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one proxy × scenario × concurrency folded into one row (means; worst peak)."""

    def mean(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.fmean(values) if values else None

    return {
        "rounds": len(runs),
        "rps": mean("rps"),
        "p50_ms": mean("p50_ms"),
        "p99_ms": mean("p99_ms"),
        "cpu_us_per_req": mean("cpu_us_per_req"),
        "proxy_core_busy": mean("proxy_core_busy"),
        "upstream_cpu_us_per_req": mean("upstream_cpu_us_per_req"),
        "peak_rss_kib": max(r["peak_rss_kib"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def steady_rss(
    driver: Driver, pid: int, url: str, req: Request, count: int, max_s: float, rps_hint: float
) -> dict[str, Any]:
    """Drive `count` requests (at most `max_s` seconds) and compare RSS before and after.

    wrk stops a thread at the cap but still sleeps its whole -d, so its duration
    is sized from the throughput already measured instead of the time bound.
    """
    duration = max_s
    if driver.tool == "wrk" and rps_hint > 0:
        duration = min(max_s, count / rps_hint * 1.15 + 1)
    before = procs.tree_memory_kib(pid)["VmRSS"]
    result = driver(url, req, 32, duration, count)
    after = procs.tree_memory_kib(pid)["VmRSS"]
    return {
        "requests": result.requests,
        "errors": result.errors,
        "duration_s": result.duration_s,
        "target_requests": count,
        "max_s": max_s,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "growth_kib": after - before,
        "growth_bytes_per_req": (after - before) * 1024 / result.requests
        if result.requests
        else None,
    }
