"""Where a request's microseconds go: py-spy on a proxy under load, folded per function.

Usage: python -m benchmarks.profile [--target default|no-memo|no-access|naive]
       [--scenario getJob] [--seconds 10] [--concurrency 32] [--top 30]

Starts the upstream and the proxy exactly as `make bench` does (proxy pinned to
core 1), drives it with the same load generator and records it with py-spy
(`--idle` off: only samples where the process runs on the CPU count). The
folded stacks are written to benchmarks/results/profile-<target>.txt; the
summary prints, per function, the share of on-CPU samples spent in it (self)
and under it (total), and converts shares into µs per request using the CPU
time per request measured in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks import nginx, procs
from benchmarks.load import have_wrk
from benchmarks.measure import Driver, measured_run
from benchmarks.run import (
    LOAD_CORE,
    PROXY_CORE,
    RESULTS,
    SCENARIOS,
    start_baseline,
    start_shimgw,
    start_upstream,
)
from benchmarks.variants import VARIANTS


def fold(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """(self samples, total samples) per frame name from py-spy's collapsed output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    return own, total, samples


def _short(frame: str) -> str:
    """`handle (shimgw/server.py:123)` → `handle (shimgw/server.py)`: lines merged."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", default="no-memo", choices=[*VARIANTS, "naive"])
    p.add_argument("--scenario", default="getJob", choices=list(SCENARIOS))
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    a = p.parse_args(argv)
    out = RESULTS / f"profile-{a.target}-{a.scenario}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    _print_profile(a, _profiled_run(a, out), out)
    return 0


def _profiled_run(a: argparse.Namespace, out: Path) -> dict[str, object]:
    """One measured run of the target under load, py-spy recording it into `out`."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    load_pin, proxy_pin = procs.pin_prefix(LOAD_CORE), procs.pin_prefix(PROXY_CORE)
    driver = Driver("wrk" if have_wrk() else "aiohttp", load_pin)
    req = SCENARIOS[a.scenario]
    with tempfile.TemporaryDirectory(prefix="shimgw-prof-") as tmp_name:
        tmp = Path(tmp_name)
        kind = "nginx" if nginx.available() else "python"
        upstream = start_upstream(kind, tmp, load_pin)
        children = [upstream]
        try:
            if a.target == "naive":
                child = start_baseline(tmp, upstream.url, proxy_pin)
            else:
                child = start_shimgw(tmp, upstream.url, proxy_pin, VARIANTS[a.target])
            children.append(child)
            driver(child.url + req.path, req, a.concurrency, 2, 10**7)  # warm-up
            record = [spy, "record", "--pid", str(child.pid), "--rate", str(a.rate)]
            record += ["--nonblocking", "--duration", str(a.seconds)]
            record += ["--format", "raw", "-o", str(out)]
            spy_proc = subprocess.Popen([*load_pin, *record], stdout=subprocess.DEVNULL)
            result: list[dict[str, object]] = []
            thread = threading.Thread(
                target=lambda: result.append(
                    measured_run(
                        driver,
                        child.pid,
                        child.url + req.path,
                        req,
                        a.concurrency,
                        a.seconds,
                        10**8,
                        upstream.pid,
                    )
                )
            )
            thread.start()
            thread.join()
            spy_proc.wait(a.seconds + 30)
        finally:
            for c in reversed(children):
                c.stop()
    return result[0]


def _print_profile(a: argparse.Namespace, run: dict[str, object], out: Path) -> None:
    cpu_us = float(run["cpu_us_per_req"])  # type: ignore[arg-type]
    print(
        f"{a.target} {a.scenario} c={a.concurrency}: {run['rps']:.0f} rps, {cpu_us:.1f} CPU µs/req"
    )
    own, total, samples = fold(out)
    print(f"{samples} samples; µs/req = share × {cpu_us:.1f}")
    print(f"{'self µs':>8} {'total µs':>9}  function")
    for name, n in own.most_common(a.top):
        print(f"{n / samples * cpu_us:8.1f} {total[name] / samples * cpu_us:9.1f}  {name}")
    print("\nlargest totals:")
    for name, n in total.most_common(a.top):
        print(f"{own[name] / samples * cpu_us:8.1f} {n / samples * cpu_us:9.1f}  {name}")


if __name__ == "__main__":
    sys.exit(main())
