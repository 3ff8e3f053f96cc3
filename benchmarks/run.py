"""`make bench`: shimgw against a naive aiohttp passthrough, side by side.

Usage: python -m benchmarks.run [--quick] [--duration S] [--concurrency 1,8,32,128] [--workers]

The fake upstream and the load generator share core 0; the proxy under test
gets core 1 to itself, so its throughput is bounded by its own work. Runs
alternate baseline, shimgw, baseline, shimgw so that drift (thermal, noisy
neighbours) lands on both sides. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import procs, report
from benchmarks.load import Request, have_wrk
from benchmarks.measure import Driver, measured_run, steady_rss, summarise

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
AUTH = {"X-Api-Key": "bench"}
SCENARIOS = {
    "getJob": Request("GET", "/api/v1/jobs/42", AUTH),
    "listJobs": Request("GET", "/api/v1/jobs", AUTH),
    "createJob": Request(
        "POST",
        "/api/v1/jobs",
        {**AUTH, "Content-Type": "application/json"},
        b'{"name":"bench","engine":"spark","owner":"bench"}',
    ),
}
REQUEST_CAP_PER_S = 50_000  # far above what a Python proxy serves; a bound, not a target
LOAD_CORE, PROXY_CORE = 0, 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="c=32, getJob only, short runs")
    p.add_argument("--duration", type=float, help="seconds per measured run (3; quick 2)")
    p.add_argument("--concurrency", help="comma-separated, default 1,8,32,128 (quick 32)")
    p.add_argument("--rounds", type=int, default=2, help="runs per proxy, alternating")
    p.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--workers", action="store_true", help="also try `shimgw serve --workers 2`")
    p.add_argument("--no-memo", action="store_true", help="run shimgw with cache.max_bytes: 0")
    p.add_argument("--load", choices=("auto", "wrk", "aiohttp"), default="auto")
    p.add_argument("--steady-requests", type=int, help="getJob requests of the RSS check")
    p.add_argument("--results", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    global MEMO_BYTES
    MEMO_BYTES = 0 if a.no_memo else None
    a.duration = a.duration or (2.0 if a.quick else 3.0)
    a.concurrency = [
        int(c) for c in (a.concurrency or ("32" if a.quick else "1,8,32,128")).split(",")
    ]
    a.scenarios = (a.scenarios or ("getJob" if a.quick else ",".join(SCENARIOS))).split(",")
    unknown = set(a.scenarios) - set(SCENARIOS)
    if unknown or a.rounds < 1 or a.duration <= 0 or min(a.concurrency) < 1:
        p.error(f"bad --scenarios/--rounds/--duration/--concurrency ({', '.join(unknown)})")
    a.steady_requests = a.steady_requests or (10_000 if a.quick else 100_000)
    a.steady_max_s = 10.0 if a.quick else 60.0
    a.warmup_s = 1.0  # wrk's -d has whole seconds
    return a


def ensure_wrk() -> None:
    """Install wrk once when running as root on a Debian-like box; any failure means aiohttp."""
    if have_wrk() or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    print("wrk not found; trying `apt-get install -y wrk` …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            env=env,
            timeout=90,
            capture_output=True,
            check=False,
        )


def shimgw_argv() -> list[str]:
    script = Path(sys.executable).parent / "shimgw"
    return [str(script)] if script.exists() else [sys.executable, "-m", "shimgw"]


# `--no-memo`: shimgw without its answer memo (cache.max_bytes: 0), so every answer is
# decoded, validated and translated; the fake upstream repeats its bytes, which the
# memo would otherwise serve after the first time.
MEMO_BYTES: int | None = None


def shimgw_config(path: Path, upstream: str) -> int:
    """Write the config of one shimgw under test; returns its listen port."""
    port, admin = procs.free_port(), procs.free_port()
    memo = f"cache: {{max_bytes: {MEMO_BYTES}}}\n" if MEMO_BYTES is not None else ""
    path.write_text(
        f"listen: {{host: 127.0.0.1, port: {port}}}\n"
        f'upstreams: {{stable: {{url: "{upstream}", weight: 1}}}}\n'
        "timeouts: {connect: 2, total: 10}\n"
        f"admin: {{host: 127.0.0.1, port: {admin}}}\n"
        "logging: {level: warning, access: false}\n" + memo
    )
    return port


def start_shimgw(tmp: Path, logs: Path, upstream: str, pin: list[str], workers: int) -> procs.Child:
    config = tmp / f"shimgw-{workers}.yaml"
    port = shimgw_config(config, upstream)
    argv = [*pin, *shimgw_argv(), "serve", "--config", str(config)]
    if workers != 1:
        argv += ["--workers", str(workers)]
    name = "shimgw" if workers == 1 else f"shimgw-w{workers}"
    child = procs.start(name, argv, port, logs, ROOT)
    procs.wait_ready(child, "/api/v1/jobs/1", AUTH)
    return child


def matrix(
    a: argparse.Namespace, driver: Driver, proxies: dict[str, procs.Child], upstream_pid: int
) -> list[dict[str, Any]]:
    rows = []
    cap = int(a.duration * REQUEST_CAP_PER_S)
    for scenario in a.scenarios:
        req = SCENARIOS[scenario]
        # Warm-up (not recorded) once per scenario, at the highest concurrency so that the
        # connection pools already have their full size when the measured runs start.
        for child in proxies.values():
            driver(child.url + req.path, req, max(a.concurrency), a.warmup_s, cap)
        for conc in a.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in proxies}
            for rnd in range(a.rounds):
                for name, child in proxies.items():
                    r = measured_run(
                        driver,
                        child.pid,
                        child.url + req.path,
                        req,
                        conc,
                        a.duration,
                        cap,
                        upstream_pid,
                    )
                    runs[name].append({**r, "round": rnd})
                    print(
                        f"  {scenario:<9} c={conc:<4} {name:<9} {r['rps']:>8.0f} req/s  "
                        f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}",
                        flush=True,
                    )
            rows.append(
                {
                    "scenario": scenario,
                    "concurrency": conc,
                    "runs": runs,
                    **{name: summarise(rs) for name, rs in runs.items()},
                }
            )
    return rows


def try_workers(
    a: argparse.Namespace, driver: Driver, tmp: Path, logs: Path, upstream: procs.Child
) -> dict[str, Any]:
    """getJob through `shimgw serve --workers 2` (unpinned: two workers need both cores)."""
    try:
        child = start_shimgw(tmp, logs, upstream.url, [], workers=2)
    except RuntimeError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        return {"available": False, "message": lines[-1] if lines else str(exc)}
    try:
        req, out = SCENARIOS["getJob"], []
        for conc in a.concurrency:
            cap = int(a.duration * REQUEST_CAP_PER_S)
            driver(child.url + req.path, req, conc, a.warmup_s, cap)
            r = measured_run(
                driver, child.pid, child.url + req.path, req, conc, a.duration, cap, upstream.pid
            )
            out.append({"scenario": "getJob", "concurrency": conc, **r})
        return {"available": True, "pinned": False, "runs": out}
    finally:
        child.stop()


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    started = time.monotonic()
    if a.load != "aiohttp":
        ensure_wrk()
    tool = "wrk" if a.load == "wrk" or (a.load == "auto" and have_wrk()) else "aiohttp"
    if tool == "aiohttp" and a.load == "auto":
        print("note: wrk not available; using the bundled aiohttp client", flush=True)
    load_pin, proxy_pin = procs.pin_prefix(LOAD_CORE), procs.pin_prefix(PROXY_CORE)
    if load_pin and proxy_pin:
        os.sched_setaffinity(0, {LOAD_CORE})  # the bundled client runs in this process
    else:
        load_pin = proxy_pin = []
        print("note: CPU pinning not possible (taskset missing or one core)", flush=True)
    driver = Driver(tool, load_pin)
    logs = a.results / "logs"
    for stale in logs.glob("*.log"):  # a log of an earlier run would be misleading
        stale.unlink()
    children: list[procs.Child] = []
    with tempfile.TemporaryDirectory(prefix="shimgw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            port = procs.free_port()
            upstream = procs.start(
                "upstream",
                [*load_pin, sys.executable, "-m", "benchmarks.upstream", "--port", str(port)],
                port,
                logs,
                ROOT,
            )
            children.append(upstream)
            procs.wait_ready(upstream, "/v2/health", {})
            port = procs.free_port()
            baseline = procs.start(
                "baseline",
                [
                    *proxy_pin,
                    sys.executable,
                    "-m",
                    "benchmarks.baseline",
                    "--port",
                    str(port),
                    "--upstream",
                    upstream.url,
                ],
                port,
                logs,
                ROOT,
            )
            children.append(baseline)
            procs.wait_ready(baseline, "/api/v1/jobs/1", AUTH)
            shimgw = start_shimgw(tmp, logs, upstream.url, proxy_pin, workers=1)
            children.append(shimgw)
            print(
                f"load: {tool}; pinned: {bool(proxy_pin)}; duration {a.duration} s × "
                f"{a.rounds} rounds",
                flush=True,
            )
            proxies = {"baseline": baseline, "shimgw": shimgw}
            rows = matrix(a, driver, proxies, upstream.pid)
            hint = next((r["shimgw"]["rps"] for r in rows if r["scenario"] == "getJob"), 0.0)
            print(f"steady RSS: {a.steady_requests} getJob requests through shimgw …", flush=True)
            steady = steady_rss(
                driver,
                shimgw.pid,
                shimgw.url + SCENARIOS["getJob"].path,
                SCENARIOS["getJob"],
                a.steady_requests,
                a.steady_max_s,
                hint or 0.0,
            )
            workers = try_workers(a, driver, tmp, logs, upstream) if a.workers else None
            exits = {c.name: c.stop() for c in reversed(children)}
        finally:
            for child in children:
                child.stop()
    result = {
        "meta": {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_tool": tool,
            "pinned": bool(proxy_pin),
            "duration_s": a.duration,
            "rounds": a.rounds,
            "concurrency": a.concurrency,
            "scenarios": a.scenarios,
            "wall_s": time.monotonic() - started,
            "exit_codes": exits,
        },
        "rows": rows,
        "steady_rss": steady,
        "workers": workers,
    }
    table = report.write_all(result, a.results)
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
