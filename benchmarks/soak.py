"""Fault soak: mixed Phase 1 load through a real gateway process while the orchestrator
misbehaves on purpose, the config is rewritten, and the gateway is restarted once.

Theory of operation
-------------------
This process runs the reference orchestrator (`stable` and `canary`, one shared
store, every call checked against phase2.yaml) and the load; the gateway is a
child process (`shimgw serve`), so its memory is its own and SIGTERM is real.

Every few seconds one fault episode runs, in turn: `refuse` (the canary's
listener is stopped, then restarted on its port), `reset` (answers cut off
mid-body), `stall` (answers slower than `timeouts.total`), `garbage` (not HTTP),
`gzip-bomb` (a small gzip body inflating past `limits.max_upstream_body_bytes`)
and `5xx-burst` (a run of 503/500). Each episode opens a window, from its start
to a little past the gateway's total timeout after it ended; an error answer to
a request that started inside a window is "injected", any other error counts
against the rollout KPI (< 0.1 %). The config file is rewritten (canary weight
toggled) every `reload_every_s`; halfway through, the gateway gets SIGTERM and
a new one starts on the same port.

Counting: `sent` is every request the load tried; one whose connection was
refused while no gateway was listening, or that came while the gateway was
being restarted (taken out of rotation, as a load balancer does on SIGTERM),
is `not_sent`; one that
got any HTTP answer is `answered`; everything else — written, never answered —
is `lost` (target 0). Creates are counted where they happen, in the
orchestrator's store: each createJob carries a unique name, and a name stored
twice is a duplicated create (target 0). `peak_rss_mib` is the highest VmHWM
of the gateway processes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks.procs import free_port
from shimgw.reference import Fault, RunStore, seed_demo, start_reference, stop_reference
from shimgw.reference.server import RunningInstance
from shimgw.reference.store import Run, now_rfc3339

FAULTS = ("refuse", "reset", "stall", "garbage", "gzip-bomb", "5xx-burst")
EXPECTED = {  # statuses that are a normal answer for each kind of call in the mix
    "getJob": {200, 404},
    "listJobs": {200},
    "createJob": {201},
    "getStatus": {200},
    "listEngines": {200},
    "getJobLogs": {200, 404},
}
TOTAL_TIMEOUT_S = 3.0


@dataclass(kw_only=True)
class Plan:
    duration_s: float = 180.0
    concurrency: int = 24
    fault_every_s: float = 6.0
    reload_every_s: float = 10.0
    restart: bool = True
    cache_max_bytes: int = 8 << 20
    keys: int = 200
    seed_runs: int = 400


@dataclass(kw_only=True)
class Report:
    plan: dict[str, Any]
    sent: int = 0
    answered: int = 0
    not_sent: int = 0
    lost: int = 0
    lost_kinds: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    errors_injected: int = 0
    errors_outside: int = 0
    error_rate_outside: float = 0.0
    outside_samples: list[str] = field(default_factory=list)
    creates_answered: int = 0
    creates_stored: int = 0
    duplicated_creates: int = 0
    fault_episodes: dict[str, int] = field(default_factory=dict)
    reloads: int = 0
    restarts: int = 0
    peak_rss_mib: float = 0.0
    violations: int = 0

    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated_creates == 0
            and self.error_rate_outside < 0.001
            and self.violations == 0
        )


class Gateway:
    """The gateway child process: start, wait until it serves, SIGTERM, peak memory."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_kib = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "shimgw", "serve", "--config", str(self.config)],
                stdout=log,
                stderr=log,
            )

    async def start(self) -> None:
        self.proc = self._spawn()
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited: see {self.log}")
                try:
                    async with session.get(f"{self.url}/api/v1/status") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("gateway did not start in time")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sample(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except OSError:
            pass

    async def stop(self) -> None:
        if self.proc is None:
            return
        self.sample()
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self.proc.wait)  # the drain: in-flight requests finish


class Soak:
    def __init__(self, plan: Plan, folder: Path) -> None:
        self.plan, self.folder = plan, folder
        self.store = seed_demo(RunStore())
        self.report = Report(plan=asdict(plan))
        self.windows: list[list[float]] = []  # [start, end) of injected trouble
        self.down = False  # no gateway listening (restart gap)
        self.end = math.inf
        self.samples: list[tuple[float, str, int]] = []  # (started, op, status) of errors
        self.created: list[str] = []
        self.names = itertools.count()
        self.instances: list[RunningInstance] = []
        self.weights = {"stable": 1, "canary": 1}

    # --- setting up ---------------------------------------------------------------------

    def write_config(self) -> None:
        config = {
            "listen": {"host": "127.0.0.1", "port": self.port},
            "upstreams": {
                i.name: {"url": i.url, "weight": self.weights[i.name]} for i in self.instances
            },
            "timeouts": {"connect": 1, "total": TOTAL_TIMEOUT_S},
            "admin": {"port": "off"},
            "logging": {"level": "warning", "access": False},
            "cache": {"max_bytes": self.plan.cache_max_bytes},
            # The soak measures the gateway's own answers; a rollback would only move load.
            "rollback": {"enabled": False},
        }
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config))
        os.replace(tmp, self.config)

    async def run(self) -> Report:
        for n in range(self.plan.seed_runs):  # enough runs for large, distinct pages
            self.store.add_run(_seed_run(self.store.next_id(), n))
        self.instances = await start_reference(self.store, [("stable", 0), ("canary", 0)])
        self.port = free_port()
        self.config = self.folder / "shimgw.yaml"
        self.write_config()
        self.gateway = Gateway(self.config, self.port, self.folder / "gateway.log")
        await self.gateway.start()
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        timeout = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT_S * 4)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                end = self.end = time.monotonic() + self.plan.duration_s
                chores = [
                    asyncio.create_task(self._faults(end)),
                    asyncio.create_task(self._reloads(end)),
                    asyncio.create_task(self._sampler(end)),
                ]
                if self.plan.restart:
                    chores.append(asyncio.create_task(self._restart(self.plan.duration_s / 3)))
                workers = [
                    asyncio.create_task(self._client(session, n))
                    for n in range(self.plan.concurrency)
                ]
                await asyncio.gather(*workers)
                for chore in chores:
                    chore.cancel()
                await asyncio.gather(*chores, return_exceptions=True)
        finally:
            self.gateway.sample()
            await self.gateway.stop()
            self.store.clear_faults()
            await stop_reference(self.instances)
        return self._finish()

    # --- the load -------------------------------------------------------------------------

    async def _client(self, session: aiohttp.ClientSession, n: int) -> None:
        rng = random.Random(n)
        while time.monotonic() < self.end or self.down:  # `end` moves if the restart runs late
            op, method, path, body = self._pick(rng)
            key = f"soak-key-{rng.randrange(self.plan.keys)}"
            await self._one(session, op, method, path, body, key)

    def _pick(self, rng: random.Random) -> tuple[str, str, str, Any]:
        roll = rng.random()
        if roll < 0.35:
            return "getJob", "GET", f"/api/v1/jobs/{rng.randint(1, 8)}", None
        if roll < 0.60:
            # Distinct pages make distinct answers: the memo fills to its budget and churns.
            size, page = rng.randint(1, 100), rng.randint(1, 3)
            return "listJobs", "GET", f"/api/v1/jobs?per_page={size}&page={page}", None
        if roll < 0.70:
            name = f"soak-{os.getpid()}-{next(self.names)}"
            body = {"name": name, "engine": "spark", "owner": "soak", "priority": "normal"}
            return "createJob", "POST", "/api/v1/jobs", body
        if roll < 0.80:
            return "getJobLogs", "GET", f"/api/v1/jobs/{rng.randint(1, 8)}/logs", None
        if roll < 0.90:
            return "listEngines", "GET", "/api/v1/engines", None
        return "getStatus", "GET", "/api/v1/status", None

    async def _one(
        self,
        session: aiohttp.ClientSession,
        op: str,
        method: str,
        path: str,
        body: Any,
        key: str,
    ) -> None:
        report = self.report
        report.sent += 1
        if self.down:
            report.not_sent += 1  # taken out of rotation: the client would go elsewhere
            await asyncio.sleep(0.05)
            return
        started = time.monotonic()
        try:
            async with session.request(
                method, self.gateway.url + path, json=body, headers={"X-Api-Key": key}
            ) as resp:
                await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError:
            report.not_sent += 1  # nothing listening (the restart gap): never sent
            await asyncio.sleep(0.05)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            report.lost += 1
            kind = type(exc).__name__
            report.lost_kinds[kind] = report.lost_kinds.get(kind, 0) + 1
            return
        report.answered += 1
        report.statuses[str(status)] = report.statuses.get(str(status), 0) + 1
        if op == "createJob" and status == 201:
            report.creates_answered += 1
        if op == "createJob" and body is not None:
            self.created.append(body["name"])
        if status not in EXPECTED[op]:
            self.samples.append((started, f"{method} {path}", status))

    # --- trouble ----------------------------------------------------------------------------

    async def _faults(self, end: float) -> None:
        bomb = gzip.compress(b"\0" * (64 << 20), 9)  # ~64 KiB on the wire, 64 MiB decoded
        for kind in itertools.cycle(FAULTS):
            await asyncio.sleep(self.plan.fault_every_s)
            if time.monotonic() > end - 2:
                return
            # Open until the episode is over; from a total timeout before it, since a request
            # already in flight when the fault is armed can meet it.
            window = [time.monotonic() - TOTAL_TIMEOUT_S, math.inf]
            self.windows.append(window)
            self.report.fault_episodes[kind] = self.report.fault_episodes.get(kind, 0) + 1
            if kind == "refuse":
                await self._refuse()
            else:
                for fault in _faults_of(kind, bomb):
                    self.store.inject(fault)
                for _ in range(30):  # until consumed (or 3 s)
                    if not self.store.pending_faults:
                        break
                    await asyncio.sleep(0.1)
                self.store.clear_faults()
            window[1] = time.monotonic() + TOTAL_TIMEOUT_S + 1.5

    async def _refuse(self) -> None:
        canary = next(i for i in self.instances if i.name == "canary")
        await stop_reference([canary])
        await asyncio.sleep(1.5)
        restarted = await start_reference(self.store, [("canary", canary.port)])
        self.instances = [i for i in self.instances if i.name != "canary"] + restarted

    async def _reloads(self, end: float) -> None:
        while True:
            await asyncio.sleep(self.plan.reload_every_s)
            self.weights["canary"] = 1 if self.weights["canary"] == 2 else 2
            self.write_config()
            self.report.reloads += 1

    async def _sampler(self, end: float) -> None:
        while True:
            self.gateway.sample()
            if len(self.store.seen) > 10000:
                del self.store.seen[:-1000]  # the orchestrator's own request log
            await asyncio.sleep(0.5)

    async def _restart(self, after: float) -> None:
        await asyncio.sleep(after)
        window = [time.monotonic(), math.inf]
        self.windows.append(window)
        # As a load balancer would: no new request goes to an instance told to stop;
        # those in flight must all be answered (the drain).
        self.down = True
        peak = self.gateway.peak_kib
        await self.gateway.stop()
        self.gateway.sample()
        await self.gateway.start()
        self.down = False
        self.end = max(self.end, time.monotonic() + 2.0)  # the new process serves a while
        self.gateway.peak_kib = max(peak, self.gateway.peak_kib)
        self.report.restarts += 1
        window[1] = time.monotonic() + 1.0

    # --- the figures ----------------------------------------------------------------------

    def _finish(self) -> Report:
        report = self.report
        report.peak_rss_mib = round(self.gateway.peak_kib / 1024, 1)
        for started, what, status in self.samples:
            if any(a <= started < b for a, b in self.windows):
                report.errors_injected += 1
            else:
                report.errors_outside += 1
                if len(report.outside_samples) < 10:
                    report.outside_samples.append(f"{status} {what}")
        report.error_rate_outside = report.errors_outside / max(1, report.answered)
        names = Counter(run.display_name for run in self.store.runs.values())
        mine = set(self.created)
        report.creates_stored = sum(n for name, n in names.items() if name in mine)
        report.duplicated_creates = sum(
            n - 1 for name, n in names.items() if name in mine and n > 1
        )
        report.violations = len(self.store.violations)
        return report


def _seed_run(run_id: int, n: int) -> Run:
    stamp = now_rfc3339()
    return Run(
        id=run_id,
        display_name=f"seeded-{n}",
        plugin_id="spark",
        plugin_version="3.5.1",
        state="SUCCEEDED",
        create_time=stamp,
        update_time=stamp,
        labels={"owner": f"owner-{n % 17}"},
        tags=["seeded", f"batch-{n % 7}"],
        parameters={"date": "2024-02-29", "shards": n % 32},
    )


def _faults_of(kind: str, bomb: bytes) -> list[Fault]:
    if kind == "reset":
        cut = (
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n{"id"'
        )
        return [Fault(garbage=cut, times=8)]
    if kind == "stall":
        return [Fault(delay=TOTAL_TIMEOUT_S + 1.0, times=4)]
    if kind == "garbage":
        return [Fault(garbage=b"SMTP ready\r\n\r\n", times=8)]
    if kind == "gzip-bomb":
        headers = {"Content-Encoding": "gzip"}
        return [
            Fault(status=200, body=bomb, content_type="application/json", headers=headers, times=4)
        ]
    return [Fault(status=503, times=15), Fault(status=500, times=15)]


async def soak(plan: Plan, keep: Path | None = None) -> Report:
    if keep is not None:  # the gateway's log and config stay for a look afterwards
        return await Soak(plan, keep).run()
    with tempfile.TemporaryDirectory(prefix="shimgw-soak-") as folder:
        return await Soak(plan, Path(folder)).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--fault-every", type=float, default=6.0)
    parser.add_argument("--reload-every", type=float, default=10.0)
    parser.add_argument("--cache-max-bytes", type=int, default=8 << 20)
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--out", help="also write the report as JSON here")
    parser.add_argument("--keep", help="folder to keep the gateway's config and log in")
    args = parser.parse_args(argv)
    plan = Plan(
        duration_s=args.duration,
        concurrency=args.concurrency,
        fault_every_s=args.fault_every,
        reload_every_s=args.reload_every,
        restart=not args.no_restart,
        cache_max_bytes=args.cache_max_bytes,
    )
    keep = Path(args.keep) if args.keep else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(soak(plan, keep))
    text = json.dumps(asdict(report), indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
