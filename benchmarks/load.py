"""Load drivers: wrk when it is installed, else a bundled aiohttp client.

Both return the same `LoadResult`. Every run is bounded twice, by a duration
and by a request cap, so a fast target can never be driven without end.
wrk is preferred because it is written in C: the Python client competes for
the load generator's core and caps what can be measured.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from benchmarks.serving import run

REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Request:
    """One scenario's request, sent over and over."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests: int  # answered, whatever the status
    errors: int  # non-2xx answers plus socket errors and timeouts
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolating linearly between ranks."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- bundled aiohttp client -----------------------------------------------------------


@dataclass
class _Tally:
    started: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


async def _worker(
    session: aiohttp.ClientSession, url: str, req: Request, deadline: float, cap: int, t: _Tally
) -> None:
    clock = time.perf_counter
    while clock() < deadline and t.started < cap:
        t.started += 1
        begin = clock()
        try:
            async with session.request(req.method, url, data=req.body, headers=req.headers) as r:
                await r.read()
                t.latencies.append(clock() - begin)
                if not 200 <= r.status < 300:
                    t.errors += 1
        except (aiohttp.ClientError, TimeoutError):
            t.errors += 1
            # Without a pause a refused connection would spin this loop until the deadline.
            await asyncio.sleep(0.01)


async def aiohttp_load_async(
    url: str, req: Request, concurrency: int, duration_s: float, max_requests: int
) -> LoadResult:
    # One keep-alive connection per worker, like wrk's -c.
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    tally = _Tally()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration_s
        await asyncio.gather(
            *(_worker(session, url, req, deadline, max_requests, tally) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - start
    ordered = sorted(tally.latencies)
    answered = len(ordered)
    return LoadResult(
        tool="aiohttp",
        requests=answered,
        errors=tally.errors,
        duration_s=elapsed,
        rps=answered / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(ordered, 50) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
    )


def aiohttp_load(
    url: str, req: Request, concurrency: int, duration_s: float, max_requests: int
) -> LoadResult:
    result: list[LoadResult] = []

    async def main() -> None:
        result.append(await aiohttp_load_async(url, req, concurrency, duration_s, max_requests))

    run(main())
    return result[0]


# --- wrk ------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),")
_PERCENT = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(text: str) -> LoadResult:
    """Read the numbers out of `wrk --latency` output; raises ValueError when it is not there."""
    done, rps = _DURATION.search(text), _RPS.search(text)
    percents = {m[1]: float(m[2]) * _UNITS_MS[m[3]] for m in _PERCENT.finditer(text)}
    if done is None or rps is None or set(percents) != {"50", "99"}:
        raise ValueError(f"not wrk --latency output: {text[:200]!r}")
    errors = sum(int(n) for n in m.groups()) if (m := _SOCKET.search(text)) else 0
    errors += int(m[1]) if (m := _NON_2XX.search(text)) else 0
    return LoadResult(
        tool="wrk",
        requests=int(done[1]),
        errors=errors,
        duration_s=float(done[2]) * _UNITS_MS[done[3]] / 1000,
        rps=float(rps[1]),
        p50_ms=percents["50"],
        p99_ms=percents["99"],
    )


def _lua_string(data: str | bytes) -> str:
    """A Lua string literal: anything but plain printable ASCII as a decimal byte escape."""
    raw = data.encode() if isinstance(data, str) else data
    safe = {*range(0x20, 0x7F)} - {ord('"'), ord("\\")}
    return '"' + "".join(chr(b) if b in safe else f"\\{b:03d}" for b in raw) + '"'


def wrk_script(req: Request, max_requests: int) -> str:
    lines = [f'wrk.method = "{req.method}"']
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items()]
    if req.body is not None:
        lines.append(f"wrk.body = {_lua_string(req.body)}")
    # wrk knows only a duration; counting responses and stopping the thread adds the cap.
    lines += [
        "local answered = 0",
        "function response(status, headers, body)",
        "  answered = answered + 1",
        f"  if answered >= {max_requests} then wrk.thread:stop() end",
        "end",
    ]
    return "\n".join(lines) + "\n"


def wrk_load(
    url: str,
    req: Request,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    prefix: Sequence[str] = (),
) -> LoadResult:
    """Run wrk with one thread (the load generator gets one core); `prefix` may pin it."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(wrk_script(req, max_requests))
        script.flush()
        argv = [
            *prefix,
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(duration_s))}s",
            "--latency",
            f"--timeout={int(REQUEST_TIMEOUT_S)}s",
            "-s",
            script.name,
            url,
        ]
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration_s + 30, check=False
        )
    # wrk reports a broken script on stderr and then runs anyway, without it.
    if out.returncode != 0 or out.stderr.strip():
        raise RuntimeError(f"wrk exited {out.returncode}: {out.stderr.strip()[:300]}")
    return parse_wrk(out.stdout)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def drive(
    tool: str,
    url: str,
    req: Request,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    wrk_prefix: Sequence[str] = (),
) -> LoadResult:
    if tool == "wrk":
        return wrk_load(url, req, concurrency, duration_s, max_requests, wrk_prefix)
    return aiohttp_load(url, req, concurrency, duration_s, max_requests)
