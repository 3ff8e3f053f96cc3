"""The runtime: the snapshot in force, how it is replaced, and who serves a request.

Theory of operation
-------------------
`Runtime.current` is the one reference to the snapshot in force. A request
reads it once and uses only that object to the end, so a reload in the middle
of a request changes nothing for it.

A reload (SIGHUP, a change of the config file, `POST /admin/reload`) runs one
at a time under a lock: the config is read and the whole snapshot built and
validated in a worker thread, off the event loop. Only a snapshot that built
completely is attached to upstream pools and swapped in, with one assignment.
A pool whose upstream kept its URL, timeouts and limits is handed over, so
keep-alive connections survive; a pool that is no longer needed is closed
only after `timeouts.total` (plus a margin), when every request that could
still be using it has finished. A failed reload changes nothing but
`last_error`, which `GET /admin/config` shows with the version in force.

Picking an upstream: a forced arm (tester header plus the admin token) wins;
else the canary picker (routing/canary.py) with the upstreams the rollback
tracker holds at 0 taken out.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from shimgw.config import Config, UpstreamConfig, admin_token, load_config
from shimgw.errors import ConfigError
from shimgw.legacy_arm import Phase1Upstream
from shimgw.observe import Metrics
from shimgw.orchestrator import Limits, Upstream
from shimgw.rollback import RollbackEvent, RollbackTracker
from shimgw.snapshot import Snapshot, build_snapshot
from shimgw.transport import FastUpstream
from shimgw.upstream import HttpUpstream
from shimgw.usage import UsageBook

log = logging.getLogger("shimgw")

UpstreamFactory = Callable[[UpstreamConfig, Config], Upstream]
ADMIN_TOKEN_HEADER = "X-Shimgw-Admin-Token"
_ADMIN_TOKEN_KEY = ADMIN_TOKEN_HEADER.lower()


def http_upstream(upstream: UpstreamConfig, config: Config) -> Upstream:
    if upstream.protocol == "phase1":  # a legacy backend: calls pass through (legacy_arm.py)
        return Phase1Upstream(upstream.name, upstream.url, limits_of(config, upstream))
    if config.upstream_transport == "fast":
        return FastUpstream(upstream.name, upstream.url, limits_of(config, upstream))
    # The /v2 call's client span is the gateway's own (tracing.client_span), the same for
    # both transports, so no client instrumentation of aiohttp's here.
    return HttpUpstream(upstream.name, upstream.url, limits_of(config, upstream))


def limits_of(config: Config, upstream: UpstreamConfig) -> Limits:
    return Limits(
        connect_timeout=config.timeouts.connect,
        total_timeout=config.timeouts.total,
        max_body_bytes=config.limits.max_upstream_body_bytes,
        max_connections=upstream.max_connections,
        max_queue=upstream.max_queue,
        headers=upstream.headers,
    )


class Runtime:
    def __init__(
        self,
        snapshot: Snapshot,
        *,
        metrics: Metrics | None = None,
        upstream_factory: UpstreamFactory = http_upstream,
        reload_hook: Callable[[str], None] | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self._reload_hook = reload_hook
        self._factory = upstream_factory
        self.usage = UsageBook(self.metrics.phase1_requests)  # counts survive reloads
        self.current = self._attach(snapshot, None)
        self.loaded_at = time.time()
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.reloads = 0
        self._lock = asyncio.Lock()
        # Pools a reload retired, closed once no request can still be using them.
        self._retiring: dict[asyncio.Task[None], list[Upstream]] = {}
        self._serving_for: Snapshot | None = None
        self._serving_names: list[str] = []
        self.probes: dict[str, bool] = {}  # upstream → did its last /v2/health probe pass
        self.draining = False  # SIGTERM seen: /readyz answers 503 while the listener drains
        self.rollback = RollbackTracker(
            snapshot.config.rollback, snapshot.config.upstreams, on_rollback=self._on_rollback
        )
        self._publish_weights()

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> Runtime:
        return cls(build_snapshot(load_config(path)), **kwargs)

    # --- picking ------------------------------------------------------------------------

    def choose(
        self,
        snapshot: Snapshot,
        operation: str,
        headers: Mapping[str, str],
        key: str | None,
        digest: str | None,
    ) -> str:
        """The upstream for one request: `headers` as received (read by lower-case names,
        as everywhere past the edge), `key` its routing key and `digest` that key's
        `key_digest` (computed once per request by the handler; None when nothing needs it)."""
        forced = headers.get(snapshot.config.routing.force_header.lower())
        if (
            forced is not None
            and forced in snapshot.upstreams
            and forced not in snapshot.cutover.shadow_only  # never serves, not even testers
            and self._admin_ok(snapshot.config, headers.get(_ADMIN_TOKEN_KEY))
        ):
            return forced
        return snapshot.picker.pick(operation, headers, key, digest, self.rollback.disabled)

    @staticmethod
    def _admin_ok(config: Config, supplied: str | None) -> bool:
        token = admin_token(config)
        return (
            token is not None
            and supplied is not None
            # Header text may carry undecodable bytes (surrogates): never let them raise.
            and hmac.compare_digest(token.encode(), supplied.encode("utf-8", "surrogatepass"))
        )

    def admin_ok(self, supplied: str | None) -> bool:
        return self._admin_ok(self.current.config, supplied)

    # --- health bookkeeping ------------------------------------------------------------

    def record(self, upstream: str, seconds: float, failed: bool) -> None:
        self.rollback.record(upstream, seconds, failed, self._serving())

    def probe_result(self, upstream: str, ok: bool) -> None:
        self.probes[upstream] = ok
        self.metrics.upstream_up.labels(upstream).set(1 if ok else 0)
        self.rollback.probe_result(upstream, ok, self._serving())

    def unready(self) -> str | None:
        """Why `/readyz` answers 503, or None when a snapshot serves and an arm with a
        weight above 0 (after rollbacks) passed its last health probe."""
        if self.draining:
            return "shutting down"
        weighted = [n for n, w in self.effective_weights().items() if w > 0]
        if any(self.probes.get(n) for n in weighted):
            return None
        states = ", ".join(
            f"{n}: {'no probe yet' if n not in self.probes else 'last probe failed'}"
            for n in weighted
        )
        return f"no arm with weight > 0 passed its last health probe ({states or 'none'})"

    def _serving(self) -> list[str]:
        snapshot = self.current
        if snapshot is not self._serving_for:  # recomputed once per snapshot, not per request
            self._serving_names = [n for n, u in snapshot.config.upstreams.items() if u.weight > 0]
            self._serving_for = snapshot
        return self._serving_names

    def _on_rollback(self, event: RollbackEvent) -> None:
        self.metrics.rollbacks.labels(event.upstream, event.reason).inc()
        self._publish_weights()

    def effective_weights(self) -> dict[str, int]:
        disabled = self.rollback.disabled
        return {
            n: 0 if n in disabled else u.weight for n, u in self.current.config.upstreams.items()
        }

    def _publish_weights(self) -> None:
        for name, weight in self.effective_weights().items():
            self.metrics.weight.labels(name).set(weight)
            self.metrics.configured_weight.labels(name).set(
                self.current.config.upstreams[name].weight
            )
            self.metrics.rolled_back.labels(name).set(1 if name in self.rollback.disabled else 0)

    def reset_rollback(self, reason: str = "admin") -> None:
        self.rollback.reset()
        self._publish_weights()
        log.warning("rollback reset", extra={"fields": {"reason": reason, "pid": os.getpid()}})
        if self._reload_hook is not None and reason == "admin":
            self._reload_hook("admin-reset")

    # --- reload -------------------------------------------------------------------------

    async def reload(self, reason: str) -> bool:
        """Build, validate and swap in a new snapshot; False (and `last_error`) when refused."""
        source = self.current.config.source
        if source is None:
            self.last_error, self.last_error_at = "no config file to reload", time.time()
            return False
        async with self._lock:
            previous = self.current
            try:
                snapshot = await asyncio.to_thread(_build_from, source, previous)
            except Exception as exc:
                # A ConfigError names its key; anything else is a file the parsers did not
                # foresee. Either way the reload is refused and the old snapshot serves.
                if not isinstance(exc, ConfigError):
                    log.exception("reload failed unexpectedly")
                    exc = ConfigError(str(source), f"cannot be loaded: {type(exc).__name__}: {exc}")
                self.last_error, self.last_error_at = str(exc), time.time()
                self.metrics.reloads.labels("refused").inc()
                self.metrics.reload_ok.set(0)
                log.error(
                    f"reload refused, still serving {previous.version}: {exc}",
                    extra={"fields": {"reason": reason}},
                )
                return False
            self.metrics.reload_ok.set(1)
            # Whatever was refused before no longer stands (the good file is back, even
            # if it is the very version in force).
            self.last_error = None
            if snapshot.version == previous.version:
                return True
            self.current = self._attach(snapshot, previous)
            config_changed = snapshot.config.digest != previous.config.digest
            self.rollback.reconfigure(
                snapshot.config.rollback, snapshot.config.upstreams, keep_state=not config_changed
            )
            self._publish_weights()
            self.loaded_at, self.reloads = time.time(), self.reloads + 1
            self.last_error = None
            self.metrics.reloads.labels("ok").inc()
            log.warning(
                f"config reloaded: {previous.version} → {snapshot.version}",
                extra={"fields": {"reason": reason, "pid": os.getpid()}},
            )
        if self._reload_hook is not None:
            self._reload_hook(reason)
        return True

    def _attach(self, snapshot: Snapshot, previous: Snapshot | None) -> Snapshot:
        config = snapshot.config
        old: dict[str, Upstream] = dict(previous.upstreams) if previous is not None else {}
        upstreams: dict[str, Upstream] = {}
        for name, up in config.upstreams.items():
            kept = old.get(name)
            transport = FastUpstream if config.upstream_transport == "fast" else HttpUpstream
            if (
                kept is not None
                and (type(kept) is transport or not isinstance(kept, FastUpstream | HttpUpstream))
                and kept.same_as(up.url, limits_of(config, up))
                and isinstance(kept, Phase1Upstream) == (up.protocol == "phase1")  # else a new pool
            ):
                upstreams[name] = old.pop(name)
            else:
                upstreams[name] = self._factory(up, config)
        if old and previous is not None:
            retired, delay = list(old.values()), previous.config.timeouts.total + 1.0
            task = asyncio.get_event_loop().create_task(_close_later(retired, delay))
            self._retiring[task] = retired
            task.add_done_callback(lambda done: self._retiring.pop(done, None))
        usage = self.usage.slots(config.clients, snapshot.operations)
        return replace(snapshot, upstreams=upstreams, usage=usage)

    def describe(self) -> dict[str, Any]:
        return {
            **self.current.describe(),
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    def status(self) -> dict[str, Any]:
        return {
            "version": self.current.version,
            "configured_weights": {n: u.weight for n, u in self.current.config.upstreams.items()},
            "effective_weights": self.effective_weights(),
            "upstreams": self.rollback.describe(),
            "rollbacks": [
                {"upstream": e.upstream, "reason": e.reason, "at": e.at, "detail": e.detail}
                for e in self.rollback.events
            ],
        }

    async def close(self) -> None:
        # Closed here, not by the cancelled task: a task cancelled before its first step
        # never runs at all (a close right after a reload would leak the old pools).
        for task, retired in list(self._retiring.items()):
            task.cancel()
            for upstream in retired:
                await upstream.close()
        for upstream in self.current.upstreams.values():
            await upstream.close()


def _build_from(source: Path, previous: Snapshot) -> Snapshot:
    return build_snapshot(load_config(source), previous)


async def _close_later(upstreams: list[Upstream], delay: float) -> None:
    await asyncio.sleep(delay)
    for upstream in upstreams:
        await upstream.close()
