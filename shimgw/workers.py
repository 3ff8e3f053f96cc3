"""`shimgw serve`: one process, or N worker processes sharing one SO_REUSEPORT port.

With `--workers N` the parent is a small supervisor: it builds the snapshot
once to refuse a bad config before anything listens, then forks N workers.
Each worker binds the Phase 1 port with SO_REUSEPORT (the kernel spreads
connections), runs its own runtime and file watcher, and worker 0 also runs
the admin listener. A reload reaches every worker: SIGHUP to the parent is
forwarded to all of them, and a reload through the admin API makes worker 0
signal the parent, which forwards it. SIGTERM to the parent drains every
worker. Metrics use prometheus-client's multiprocess mode, so `/metrics` on
worker 0 sums every worker's counters; each worker's usage and diff books reach
worker 0's admin answers through a private directory (shares.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shimgw.errors import ConfigError  # imports nothing: safe before the metrics directory

if TYPE_CHECKING:  # imported late at run time: the metrics directory must be set first
    from shimgw.config import Config
    from shimgw.snapshot import Snapshot

log = logging.getLogger("shimgw")
Runner = Callable[[Coroutine[Any, Any, None]], None]
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CRASH_WINDOW_S = 60.0
EXIT_UNUSABLE = 2  # a config the process cannot serve (bad key, port in use)


def serve(config_path: Path, *, workers: int, run: Runner) -> int:
    if workers < 1:
        raise SystemExit("shimgw: --workers must be at least 1")
    metrics_dir = shares_dir = None
    if workers > 1 and MULTIPROC_ENV not in os.environ:
        # Must be set before prometheus_client is imported (it picks its value class then).
        metrics_dir = tempfile.mkdtemp(prefix="shimgw-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    if workers > 1:
        shares_dir = Path(tempfile.mkdtemp(prefix="shimgw-shares-"))  # mode 0700
    try:
        return _serve(config_path, workers, run, shares_dir)
    finally:
        for made in (metrics_dir, shares_dir):
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)


def _serve(config_path: Path, workers: int, run: Runner, shares: Path | None) -> int:
    from shimgw import tracing
    from shimgw.config import load_config
    from shimgw.observe import setup_logging
    from shimgw.snapshot import build_snapshot

    # Built before anything listens, so a bad config exits with one line and code 2.
    config = load_config(config_path)
    snapshot = build_snapshot(config)
    tracing.settings(config.tracing, os.environ)  # a bad OTEL_* value: one line, exit 2
    # And both ports are tried before anything starts: a port in use is one line and
    # exit code 2 here, not a traceback in a worker that the supervisor restarts in a loop.
    check_ports(config)
    setup_logging(config.logging.level)
    if workers == 1:
        run(_worker_main(snapshot, index=0, workers=1))
        return 0
    return _Supervisor(snapshot, workers, run, shares).run()


def check_ports(config: Config) -> None:
    """Bind each configured port once (and let go): `ConfigError` naming the key if taken."""
    wanted = [("listen.port", config.listen.host, config.listen.port)]
    if config.admin.port is not None:
        wanted.append(("admin.port", config.admin.host, config.admin.port))
    for key, host, port in wanted:
        if port == 0:
            continue
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except OSError as exc:
            raise ConfigError(key, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            # As asyncio binds (SO_REUSEADDR), so a port in TIME_WAIT is not "in use".
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(
                    key, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                ) from exc


async def _worker_main(
    snapshot: Snapshot, *, index: int, workers: int, shares: Path | None = None
) -> None:
    from shimgw.runtime import Runtime
    from shimgw.service import Service, run_until_signalled
    from shimgw.shares import ShareDir

    if index > 0:
        # Only worker 0 listens for admin calls; the others would share its port at random.
        config = replace(snapshot.config, admin=replace(snapshot.config.admin, port=None))
        snapshot = replace(snapshot, config=config)
    # Worker 0 speaks for all (every worker sees a file change; one report is enough).
    hook = _tell_parent if workers > 1 and index == 0 else None
    runtime = Runtime(snapshot, reload_hook=hook)
    share_dir = ShareDir(shares) if shares is not None else None  # this process's pid
    await run_until_signalled(Service(runtime, reuse_port=workers > 1, shares=share_dir))


def _tell_parent(reason: str) -> None:
    """After a reload (admin or file change) or an admin rollback reset in a worker, let the
    parent tell them all (SIGHUP: reload; SIGUSR1: reset) and keep its own copy current
    for restarts. A reload that came from the parent's SIGHUP is not echoed back."""
    if reason in ("admin", "file change"):
        os.kill(os.getppid(), signal.SIGHUP)
    elif reason == "admin-reset":
        os.kill(os.getppid(), signal.SIGUSR1)


class _Supervisor:
    """The parent of N workers: forwards signals, restarts a crashed worker from the last
    good config, and gives up when workers keep crashing."""

    def __init__(self, snapshot: Snapshot, workers: int, run: Runner, shares: Path | None) -> None:
        self.workers, self._run, self._shares = workers, run, shares
        self.children: dict[int, int] = {}  # pid → worker index
        self.last_good = snapshot  # what a restarted worker starts from
        self.stopping = False
        self.recent: deque[float] = deque()  # exit times within CRASH_WINDOW_S
        self.code = 0  # the supervisor's exit code

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, self.forward)
        for index in range(self.workers):
            self.spawn(index)
        log.info(
            "supervising workers", extra={"fields": {"workers": self.workers, "pid": os.getpid()}}
        )
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid in self.children and not self.exited(pid, status):
                return self.code
        return self.code

    def exited(self, pid: int, status: int) -> bool:
        """A worker ended: restart it (True), or stop everything on a crash loop (False)."""
        index = self.children.pop(pid)
        if self.stopping:
            return True
        if os.waitstatus_to_exitcode(status) == EXIT_UNUSABLE:
            # Its port was taken after all (one line said so): no restart helps.
            self.code = EXIT_UNUSABLE
            self.forward(signal.SIGTERM, None)
            return False
        # A crash loop (many exits in a short time) ends the gateway; crashes far apart don't.
        now = time.monotonic()
        self.recent.append(now)
        while self.recent and self.recent[0] < now - CRASH_WINDOW_S:
            self.recent.popleft()
        log.error(
            "worker exited; restarting",
            extra={"fields": {"worker": index, "status": os.waitstatus_to_exitcode(status)}},
        )
        if len(self.recent) > 5 * self.workers:
            log.error(
                "workers keep crashing; stopping", extra={"fields": {"exits": len(self.recent)}}
            )
            self.code = 1
            self.forward(signal.SIGTERM, None)
            return False
        time.sleep(0.5)
        self.refresh()
        self.spawn(index)
        return True

    def refresh(self) -> None:
        """Follow the config the workers serve, so a restart never goes back in time."""
        from shimgw.config import load_config
        from shimgw.snapshot import build_snapshot

        source = self.last_good.config.source
        if source is None:
            return
        try:
            self.last_good = build_snapshot(load_config(source), self.last_good)
        except Exception as exc:  # a refused config: the workers refuse it too
            log.warning(
                "supervisor keeps the last good config",
                extra={"fields": {"error": " ".join(str(exc).split())[:300]}},
            )

    def spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            # Until its loop installs handlers, a reload or reset signal must not kill it.
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            code = 0
            try:
                main = _worker_main(
                    self.last_good, index=index, workers=self.workers, shares=self._shares
                )
                self._run(main)
            except ConfigError as exc:  # its port was taken after all: no restart helps
                print(f"shimgw: {exc}", file=sys.stderr)
                code = EXIT_UNUSABLE
            except BaseException:
                log.exception("worker crashed", extra={"fields": {"worker": index}})
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = index

    def forward(self, sig: int, _frame: Any) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        if sig == signal.SIGHUP:
            self.refresh()
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if sig == signal.SIGINT else sig)
