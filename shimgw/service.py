"""Running the gateway: listeners, signals, the config watcher, graceful shutdown.

`Service` is what `shimgw serve` and `shimgw demo` run, and what the
integration tests start on loopback port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from pathlib import Path

from aiohttp import web

from shimgw.accesslog import open_stderr
from shimgw.admin import build_admin_app
from shimgw.config import Config
from shimgw.edge import EdgeRunner
from shimgw.errors import ConfigError, GatewayError
from shimgw.messages import V2Request
from shimgw.observe import access_log
from shimgw.orchestrator import Upstream
from shimgw.runtime import Runtime
from shimgw.server import Gateway, build_server
from shimgw.shares import DIFFS, PUBLISH_S, USAGE, ShareDir

log = logging.getLogger("shimgw")


class ListenError(ConfigError):
    """A port that cannot be listened on (in use, or not ours): one line, exit code 2."""


WATCH_INTERVAL_S = 1.0
HEALTH_PROBE = V2Request(
    operation="getHealth", method="GET", path="/v2/health", path_params={}, query={}, headers={}
)


def _fingerprint(paths: list[Path]) -> tuple[object, ...]:
    """What changes when a file is edited, atomically replaced or re-pointed by a symlink."""
    out: list[object] = []
    for path in paths:
        try:
            st = path.stat()  # follows symlinks: a ConfigMap's ..data swap shows here
            out.append((str(path.resolve()), st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None))
    return tuple(out)


def watched_files(runtime: Runtime) -> list[Path]:
    snapshot = runtime.current
    config = snapshot.config
    files = [
        p
        for p in (config.source, config.contracts.phase1, config.contracts.phase2)
        if p is not None
    ]
    if config.translations is not None:
        files += sorted(config.translations.glob("*.yaml"))
        files.append(config.translations)
    return files


class Service:
    def __init__(
        self,
        runtime: Runtime,
        *,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
        shares: ShareDir | None = None,
    ) -> None:
        self.runtime = runtime
        self.shares = shares  # under --workers: where each worker's books are added up
        self.gateway = Gateway(runtime)
        self.reuse_port = reuse_port
        self._sock = sock
        self._runners: list[web.BaseRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.admin_port: int | None = None

    async def start(self) -> None:
        config = self.runtime.current.config
        if access_log.isEnabledFor(logging.INFO):  # `logging.level` above info: no lines
            self.gateway.access = open_stderr(self.runtime.metrics.log_lines_dropped.inc)
        try:
            await self._start_edge(config)
            if config.admin.port is not None:
                await self._start_admin(config, config.admin.port)
        except OSError as exc:
            # Lost a race for a port `check_ports` found free: nothing half-started stays.
            for runner in reversed(self._runners):
                await runner.cleanup()
            self._runners.clear()
            raise ListenError("listen", f"cannot listen: {exc.strerror or exc}") from exc
        # The first round before "listening": readiness is known from the start (each probe
        # is bounded by the upstream's own timeouts).
        await self._probe_round()
        self._tasks.append(asyncio.create_task(self._watch()))
        self._tasks.append(asyncio.create_task(self._probe_health()))
        if self.shares is not None:
            self._tasks.append(asyncio.create_task(self._share_books()))
        log.info(
            "listening",
            extra={
                "fields": {
                    "host": config.listen.host,
                    "port": self.port,
                    "admin_port": self.admin_port,
                    "version": self.runtime.current.version,
                    "pid": os.getpid(),
                    "loop": loop_name(asyncio.get_running_loop()),
                }
            },
        )

    async def _start_edge(self, config: Config) -> None:
        runner = EdgeRunner(
            build_server(self.gateway),
            self.runtime,
            handle_signals=False,
            shutdown_timeout=config.shutdown.grace_s or config.timeouts.total,
        )
        await runner.setup()
        self._runners.append(runner)  # cleaned up by start() if a port fails below
        if self._sock is not None:
            site: web.BaseSite = web.SockSite(runner, self._sock)
        else:
            site = web.TCPSite(
                runner,
                config.listen.host,
                config.listen.port,
                reuse_port=self.reuse_port,
                backlog=1024,
            )
        await site.start()
        self.port = _bound_port(runner)

    async def _start_admin(self, config: Config, port: int) -> None:
        app = build_admin_app(self.runtime, self.gateway.shadow, self.shares)
        admin = web.AppRunner(app, access_log=None)
        await admin.setup()
        self._runners.append(admin)
        await web.TCPSite(admin, config.admin.host, port, reuse_port=self.reuse_port).start()
        self.admin_port = _bound_port(admin)

    async def _watch(self) -> None:
        """Poll the config, contracts and translations; any change triggers a reload.

        Polling (not inotify) sees atomic renames and symlink swaps alike, on every
        platform, for the price of a few stat calls a second.
        """
        seen = _fingerprint(watched_files(self.runtime))
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            now = _fingerprint(watched_files(self.runtime))
            if now != seen:
                # Fingerprint first: a refused file is not retried until it changes again.
                seen = now
                await self.runtime.reload("file change")
                seen = _fingerprint(watched_files(self.runtime))

    async def _share_books(self) -> None:
        """Publish this worker's usage and diff books for worker 0's admin answers."""
        while True:
            await asyncio.sleep(PUBLISH_S)
            self._publish()

    def _publish(self) -> None:
        if self.shares is None:
            return
        try:
            self.shares.publish(USAGE, self.runtime.usage.share().to_json())
            self.shares.publish(DIFFS, self.gateway.shadow.share().to_json())
        except OSError as exc:  # a full or removed directory costs the admin view, not serving
            log.warning("cannot share this worker's books", extra={"fields": {"error": str(exc)}})

    async def _probe_health(self) -> None:
        """Ask every upstream's /v2/health, at once and then every `health_interval_s`.

        The results feed `/readyz` and `shimgw_upstream_up` always, and the rollback
        tracker when `rollback.health_failures` is set (it ignores them otherwise).
        """
        while True:
            await asyncio.sleep(self.runtime.current.config.rollback.health_interval_s)
            await self._probe_round()

    async def _probe_round(self) -> None:
        snapshot = self.runtime.current
        names = list(snapshot.upstreams)
        results = await asyncio.gather(*(_probe(snapshot.upstreams[n]) for n in names))
        for name, ok in zip(names, results, strict=True):
            self.runtime.probe_result(name, ok)

    async def drain(self) -> None:
        """SIGTERM: not ready at once, and keep serving `shutdown.drain_s` while load
        balancers take this instance out; `stop` follows (in-flight: `shutdown.grace_s`)."""
        self.runtime.draining = True
        # Answers say `Connection: close` from now: keep-alive clients reconnect elsewhere
        # while this instance still answers them.
        self.gateway.draining = True
        drain_s = self.runtime.current.config.shutdown.drain_s
        log.info("draining: /readyz answers 503", extra={"fields": {"drain_s": drain_s}})
        await asyncio.sleep(drain_s)

    async def stop(self) -> None:
        await self.gateway.shadow.close()  # shadows never hold up a shutdown
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Every answer from here on says `Connection: close`, so keep-alive clients move on
        # instead of sending a next request into a closing listener.
        self.gateway.draining = True
        # Cleanup stops accepting, then waits for in-flight requests (shutdown_timeout).
        for runner in reversed(self._runners):
            await runner.cleanup()
        await self.runtime.close()
        self._publish()  # the last requests' counts outlive this worker
        # Spans still queued for export leave now (the exporter blocks: off the loop).
        await asyncio.to_thread(self.gateway.tracing.shutdown)
        if self.gateway.access is not None:
            self.gateway.access.close()
            self.gateway.access = None


async def _probe(upstream: Upstream) -> bool:
    try:
        answer = await upstream.send(HEALTH_PROBE, {"X-Correlation-ID": "probe"})
    except GatewayError:
        return False
    return answer.status == 200


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """`uvloop` or `asyncio`: which event loop serves (the log says so at start)."""
    return type(loop).__module__.split(".")[0]


def _bound_port(runner: web.BaseRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return 0


async def run_until_signalled(service: Service) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    terminated: list[bool] = []  # SIGTERM (an orchestrator) drains; SIGINT (a person) does not

    def on_sigterm() -> None:
        terminated.append(True)
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    pending: set[asyncio.Task[bool]] = set()

    def reload_on_signal() -> None:
        task = asyncio.ensure_future(service.runtime.reload("SIGHUP"))
        pending.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_on_signal)
    loop.add_signal_handler(signal.SIGUSR1, lambda: service.runtime.reset_rollback("SIGUSR1"))
    await service.start()
    try:
        await stop.wait()
    finally:
        if terminated:
            await service.drain()
        log.info("shutting down: finishing in-flight requests")
        await service.stop()
