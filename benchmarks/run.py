"""`make bench`: shimgw as users run it, against a naive aiohttp proxy, with the upstream's ceiling.

Usage: python -m benchmarks.run [--quick] [--duration S] [--concurrency 1,32,128]
       [--scenarios getJob,listJobs,createJob] [--variants default,no-memo,no-access]

What runs (each row of the report names its config):
- the naive proxy (benchmarks/baseline.py) on uvloop;
- shimgw with the default config, exactly what `pip install .` gives (access log on,
  answer memo on), and the same with one key changed: `cache.max_bytes: 0` (no memo)
  and `logging.access: false` (no access log), so each part's cost shows;
- the upstream alone, at the same concurrency, in the same run: its ceiling. A ratio is
  refused when that ceiling is within 2× of a proxy's throughput (the upstream, not
  the proxy, would be measured).

The upstream is nginx serving canned /v2 answers when nginx is installed, else the
Python upstream; both share core 0 with the load generator (wrk when installed, else
the bundled aiohttp client). Every proxy gets core 1 to itself. Rounds alternate the
proxies (reversed order every other round) so that drift lands on all of them; the
1-minute load average is recorded beside every run (other work on the machine shows).
Results go to benchmarks/results/report.{json,md,png}.
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

from benchmarks import nginx, procs, report
from benchmarks.load import Request, have_wrk
from benchmarks.measure import Driver, measured_run, steady_rss, summarise
from benchmarks.variants import VARIANTS, Variant, at_ref, shimgw_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
AUTH = {"X-Api-Key": "bench"}
JSON = {**AUTH, "Content-Type": "application/json"}
CREATE_BODY = b'{"name":"bench","engine":"spark","owner":"bench"}'
SCENARIOS = {
    "getJob": Request("GET", "/api/v1/jobs/42", AUTH),
    "listJobs": Request("GET", "/api/v1/jobs", AUTH),
    "createJob": Request("POST", "/api/v1/jobs", JSON, CREATE_BODY),
}
# What the upstream is asked directly for its ceiling: the /v2 call each scenario makes.
UPSTREAM_CALLS = {
    "getJob": Request("GET", "/v2/runs/run-42"),
    "listJobs": Request("GET", "/v2/runs"),
    "createJob": Request("POST", "/v2/runs", {"Content-Type": "application/json"}, b"{}"),
}
REQUEST_CAP_PER_S = 100_000  # far above what a Python proxy serves; a bound, not a target
LOAD_CORE, PROXY_CORE = 0, 1
BASELINE = "naive"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="c=32, getJob only, short runs")
    p.add_argument("--duration", type=float, help="seconds per measured run (3; quick 2)")
    p.add_argument("--concurrency", help="comma-separated, default 1,32,128 (quick 32)")
    p.add_argument("--rounds", type=int, help="runs per proxy, alternating (3; quick 2)")
    p.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--variants", help=f"shimgw configs, subset of {','.join(VARIANTS)}")
    p.add_argument(
        "--compare-with",
        metavar="DIR",
        help="also run each variant with the shimgw package of another checkout (A/B)",
    )
    p.add_argument("--no-workers", action="store_true", help="skip `--workers 2` (scale-out)")
    p.add_argument("--load", choices=("auto", "wrk", "aiohttp"), default="auto")
    p.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto")
    p.add_argument("--steady-requests", type=int, help="getJob requests of the RSS check")
    p.add_argument("--results", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    a.duration = a.duration or (2.0 if a.quick else 3.0)
    a.rounds = a.rounds or (2 if a.quick else 3)
    conc = a.concurrency or ("32" if a.quick else "1,32,128")
    a.concurrency = [int(c) for c in conc.split(",")]
    a.scenarios = (a.scenarios or ("getJob" if a.quick else ",".join(SCENARIOS))).split(",")
    a.variants = (a.variants or ",".join(VARIANTS)).split(",")
    unknown = (set(a.scenarios) - set(SCENARIOS)) | (set(a.variants) - set(VARIANTS))
    if unknown or a.rounds < 1 or a.duration <= 0 or min(a.concurrency) < 1:
        p.error(f"bad --scenarios/--variants/--rounds/--duration/--concurrency {unknown or ''}")
    a.steady_requests = a.steady_requests or (10_000 if a.quick else 100_000)
    a.steady_max_s = 10.0 if a.quick else 60.0
    a.warmup_s = 1.0  # wrk's -d has whole seconds
    return a


def ensure_tools(wanted: Sequence[str]) -> None:
    """Install wrk/nginx once when running as root on a Debian-like box; failure is fine."""
    missing = [tool for tool in wanted if shutil.which(tool) is None]
    if not missing or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    print(f"{', '.join(missing)} not found; trying `apt-get install -y` …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *missing],
            env=env,
            timeout=180,
            capture_output=True,
            check=False,
        )


def shimgw_argv() -> list[str]:
    script = Path(sys.executable).parent / "shimgw"
    return [str(script)] if script.exists() else [sys.executable, "-m", "shimgw"]


def start_shimgw(
    tmp: Path, upstream: str, pin: list[str], variant: Variant, workers: int = 1
) -> procs.Child:
    name = variant.name if workers == 1 else f"{variant.name}-w{workers}"
    config = tmp / f"{name}.yaml"
    port = procs.free_port()
    config.write_text(shimgw_config(variant, port, procs.free_port(), upstream))
    program = [sys.executable, "-m", "shimgw"] if variant.src else shimgw_argv()
    argv = [*pin, *program, "serve", "--config", str(config)]
    if workers != 1:
        argv += ["--workers", str(workers)]
    env = {"PYTHONPATH": variant.src} if variant.src else None
    # Its stderr (the access log: ~200 bytes a request) stays in the temporary folder.
    child = procs.start(name, argv, port, tmp / "logs", Path(variant.src or ROOT), env)
    procs.wait_ready(child, "/api/v1/jobs/1", AUTH)
    return child


def start_upstream(kind: str, tmp: Path, pin: list[str]) -> procs.Child:
    port = procs.free_port()
    if kind == "nginx":
        child = procs.start("nginx", [*pin, *nginx.argv(tmp / "nginx", port)], port, tmp / "logs")
    else:
        argv = [*pin, sys.executable, "-m", "benchmarks.upstream", "--port", str(port)]
        child = procs.start("upstream", argv, port, tmp / "logs", ROOT)
    procs.wait_ready(child, "/v2/health", {})
    return child


def start_baseline(tmp: Path, upstream: str, pin: list[str]) -> procs.Child:
    port = procs.free_port()
    argv = [*pin, sys.executable, "-m", "benchmarks.baseline", "--port", str(port)]
    child = procs.start(BASELINE, [*argv, "--upstream", upstream], port, tmp / "logs", ROOT)
    procs.wait_ready(child, "/api/v1/jobs/1", AUTH)
    return child


def one_run(
    a: argparse.Namespace, driver: Driver, child: procs.Child, req: Request, conc: int, up: int
) -> dict[str, Any]:
    load = os.getloadavg()[0]
    r = measured_run(driver, child.pid, child.url + req.path, req, conc, a.duration, _cap(a), up)
    return {**r, "load_1m": load}


def _cap(a: argparse.Namespace) -> int:
    return int(a.duration * REQUEST_CAP_PER_S)


def matrix(
    a: argparse.Namespace, driver: Driver, proxies: dict[str, procs.Child], upstream: procs.Child
) -> list[dict[str, Any]]:
    rows = []
    for scenario in a.scenarios:
        req, direct = SCENARIOS[scenario], UPSTREAM_CALLS[scenario]
        for conc in a.concurrency:
            # Warm-up (not recorded) at this concurrency, so every pool has its size.
            for child in proxies.values():
                driver(child.url + req.path, req, conc, a.warmup_s, _cap(a))
            ceiling = one_run(a, driver, upstream, direct, conc, upstream.pid)
            _print(scenario, conc, "upstream", ceiling)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in proxies}
            for rnd in range(a.rounds):
                order = list(proxies.items())
                for name, child in order if rnd % 2 == 0 else reversed(order):
                    r = one_run(a, driver, child, req, conc, upstream.pid)
                    runs[name].append({**r, "round": rnd})
                    _print(scenario, conc, name, r)
            rows.append(
                {
                    "scenario": scenario,
                    "concurrency": conc,
                    "upstream": {**summarise([ceiling]), "load_1m": ceiling["load_1m"]},
                    "runs": runs,
                    "proxies": {name: summarise(rs) for name, rs in runs.items()},
                }
            )
    return rows


def _print(scenario: str, conc: int, name: str, r: dict[str, Any]) -> None:
    cpu = r["cpu_us_per_req"]
    print(
        f"  {scenario:<9} c={conc:<4} {name:<10} {r['rps']:>8.0f} req/s  "
        f"p99 {r['p99_ms']:7.2f} ms  CPU {cpu or 0:6.0f} µs/req  errors {r['errors']}  "
        f"load {r['load_1m']:.2f}",
        flush=True,
    )


def scale_out(
    a: argparse.Namespace, driver: Driver, tmp: Path, upstream: procs.Child
) -> dict[str, Any]:
    """getJob at c=32 through `shimgw serve --workers 2` (unpinned: it needs both cores)."""
    try:
        child = start_shimgw(tmp, upstream.url, [], VARIANTS["default"], workers=2)
    except RuntimeError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        return {"available": False, "message": lines[-1] if lines else str(exc)}
    try:
        req = SCENARIOS["getJob"]
        driver(child.url + req.path, req, 32, a.warmup_s, _cap(a))
        runs = [one_run(a, driver, child, req, 32, upstream.pid) for _ in range(a.rounds)]
        return {"available": True, "pinned": False, "workers": 2, **summarise(runs)}
    finally:
        child.stop()


def loop_of(log: Path) -> str:
    """The event loop shimgw says it serves on (its `listening` line)."""
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            if '"loop":"' in line:
                return line.split('"loop":"', 1)[1].split('"', 1)[0]
    return "unknown"


def keep_log_tails(children: Sequence[procs.Child], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.log"):  # a log of an earlier run would be misleading
        stale.unlink()
    for child in children:
        with contextlib.suppress(OSError):
            data = child.log.read_bytes()
            (directory / child.log.name).write_bytes(data[:16384] + b"\n...\n" + data[-16384:])


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    started = time.monotonic()
    tool, kind = _tools(a)
    load_pin, proxy_pin = procs.pin_prefix(LOAD_CORE), procs.pin_prefix(PROXY_CORE)
    if load_pin and proxy_pin:
        os.sched_setaffinity(0, {LOAD_CORE})  # the bundled client runs in this process
    else:
        load_pin = proxy_pin = []
        print("note: CPU pinning not possible (taskset missing or one core)", flush=True)
    driver = Driver(tool, load_pin)
    load_before = os.getloadavg()
    children: list[procs.Child] = []
    with tempfile.TemporaryDirectory(prefix="shimgw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            upstream = start_upstream(kind, tmp, load_pin)
            children.append(upstream)
            proxies = {BASELINE: start_baseline(tmp, upstream.url, proxy_pin)}
            labels = _start_variants(a, tmp, upstream.url, proxy_pin, proxies)
            children += proxies.values()
            rows = matrix(a, driver, proxies, upstream)
            steady = _steady(a, driver, proxies[a.variants[0]], rows)
            workers = None if a.no_workers else scale_out(a, driver, tmp, upstream)
            loops = {name: loop_of(proxies[name].log) for name in labels}
            exits = {c.name: c.stop() for c in reversed(children)}
        finally:
            for child in children:
                child.stop()
            keep_log_tails(children, a.results / "logs")
    result = {
        "meta": {
            **_meta(a, tool, kind, bool(proxy_pin), labels),
            "shimgw_loops": loops,
            "load_before": load_before,
            "load_after": os.getloadavg(),
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


def _start_variants(
    a: argparse.Namespace,
    tmp: Path,
    upstream_url: str,
    proxy_pin: list[str],
    proxies: dict[str, procs.Child],
) -> dict[str, str]:
    """Start each shimgw variant (and its --compare-with twin) into `proxies`; their labels."""
    labels = {name: VARIANTS[name].label for name in a.variants}
    for name in a.variants:
        proxies[name] = start_shimgw(tmp, upstream_url, proxy_pin, VARIANTS[name])
        if a.compare_with:
            ref = at_ref(VARIANTS[name], str(Path(a.compare_with).resolve()))
            proxies[ref.name] = start_shimgw(tmp, upstream_url, proxy_pin, ref)
            labels[ref.name] = ref.label
    return labels


def _steady(
    a: argparse.Namespace, driver: Driver, shimgw: procs.Child, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    print(f"steady RSS: {a.steady_requests} getJob requests through {shimgw.name} …")
    return steady_rss(
        driver,
        shimgw.pid,
        shimgw.url + SCENARIOS["getJob"].path,
        SCENARIOS["getJob"],
        a.steady_requests,
        a.steady_max_s,
        _hint(rows, a.variants[0]),
    )


def _tools(a: argparse.Namespace) -> tuple[str, str]:
    """The load generator and the upstream this run uses (installed when missing)."""
    ensure_tools(
        [t for t, want in (("wrk", a.load != "aiohttp"), ("nginx", a.upstream != "python")) if want]
    )
    tool = "wrk" if a.load == "wrk" or (a.load == "auto" and have_wrk()) else "aiohttp"
    kind = (
        "nginx"
        if a.upstream == "nginx" or (a.upstream == "auto" and nginx.available())
        else "python"
    )
    print(f"load generator: {tool}; upstream: {kind}", flush=True)
    return tool, kind


def _meta(
    a: argparse.Namespace, tool: str, kind: str, pinned: bool, labels: dict[str, str]
) -> dict[str, Any]:
    """What a report says about how it was measured."""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_tool": tool,
        "upstream": kind,
        "pinned": pinned,
        "duration_s": a.duration,
        "rounds": a.rounds,
        "concurrency": a.concurrency,
        "scenarios": a.scenarios,
        "variants": labels,
    }


def _hint(rows: list[dict[str, Any]], name: str) -> float:
    return next((r["proxies"][name]["rps"] for r in rows if r["scenario"] == "getJob"), 0.0)


if __name__ == "__main__":
    sys.exit(main())
