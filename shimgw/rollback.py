"""Automatic rollback: per-upstream rolling windows and the decision to pull a canary.

Every answer (or failure) of an upstream is recorded with its latency. At most
once a second the windows are evaluated: an upstream that has at least
`min_requests` in the window and whose error rate (5xx, timeouts, unreachable,
contract violations) or p99 latency breaches the limits, while another serving
upstream does not on at least `min_requests` of its own, is rolled back: its
weight is held at 0 until the config changes or an admin resets it. The last
serving upstream is never rolled back: with nothing to fall back to, pulling it
would only turn errors into outages.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shimgw.config import RollbackConfig

log = logging.getLogger("shimgw")
# Windows are judged at most this often: even summing histograms on every answer
# would cost more than it tells.
EVALUATE_EVERY_S = 0.25


# Latency histogram bounds (ms), ~12 % apart: a p99 read from them is within one
# bucket of the truth, at a fixed cost however many requests the window holds.
_BOUNDS: tuple[float, ...] = tuple(round(0.5 * 1.12**i, 3) for i in range(110))


@dataclass(slots=True)
class _Second:
    at: int
    count: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS) + 1))


@dataclass(slots=True)
class Window:
    """One upstream's rolling window, in one-second slices with a latency histogram each."""

    seconds: deque[_Second] = field(default_factory=deque)
    total: int = 0
    errors: int = 0
    consecutive_probe_failures: int = 0

    def add(self, at: float, ms: float, failed: bool) -> None:
        second = int(at)
        if not self.seconds or self.seconds[-1].at != second:
            self.seconds.append(_Second(second))
        current = self.seconds[-1]
        current.count += 1
        current.latency[bisect.bisect_left(_BOUNDS, ms)] += 1
        self.total += 1
        if failed:
            current.errors += 1
            self.errors += 1

    def trim(self, horizon: float) -> None:
        while self.seconds and self.seconds[0].at < int(horizon):
            self.seconds.popleft()

    def stats(self) -> tuple[int, float, float]:
        """(requests, error rate, p99 ms — the upper bound of its bucket) in the window."""
        n = sum(s.count for s in self.seconds)
        if n == 0:
            return 0, 0.0, 0.0
        failures = sum(s.errors for s in self.seconds)
        wanted, seen = n * 0.99, 0
        for index in range(len(_BOUNDS) + 1):
            seen += sum(s.latency[index] for s in self.seconds)
            if seen >= wanted:
                break
        p99 = _BOUNDS[index] if index < len(_BOUNDS) else float("inf")
        return n, failures / n, p99


@dataclass(frozen=True, kw_only=True, slots=True)
class RollbackEvent:
    upstream: str
    reason: str
    at: float
    detail: str


class RollbackTracker:
    def __init__(
        self,
        config: RollbackConfig,
        upstreams: Iterable[str],
        on_rollback: Callable[[RollbackEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clock = clock
        self.windows: dict[str, Window] = {name: Window() for name in upstreams}
        self.disabled: frozenset[str] = frozenset()
        self.events: list[RollbackEvent] = []
        self._on_rollback = on_rollback
        self._next_check = 0.0

    def reconfigure(
        self, config: RollbackConfig, upstreams: Iterable[str], keep_state: bool
    ) -> None:
        """A new snapshot: windows of kept upstreams survive; a config change clears rollbacks."""
        names = list(upstreams)
        self.config = config
        self.windows = {n: self.windows.get(n) or Window() for n in names}
        self.disabled = self.disabled & frozenset(names) if keep_state else frozenset()

    def reset(self) -> None:
        """An admin's reset: back to configured weights, judged on fresh windows only
        (the errors that caused the rollback would otherwise trigger it again at once)."""
        self.disabled = frozenset()
        for window in self.windows.values():
            window.seconds.clear()
            window.consecutive_probe_failures = 0

    def record(self, upstream: str, seconds: float, failed: bool, serving: Iterable[str]) -> None:
        window = self.windows.get(upstream)
        if window is None:
            return
        now = self.clock()
        window.add(now, seconds * 1000.0, failed)
        if now >= self._next_check:
            self._next_check = now + EVALUATE_EVERY_S
            self.evaluate(serving, now)

    def evaluate(self, serving: Iterable[str], now: float | None = None) -> None:
        if not self.config.enabled:
            return
        now = self.clock() if now is None else now
        horizon = now - self.config.window_s
        live = [n for n in serving if n not in self.disabled and n in self.windows]
        verdicts, proven = {}, set()
        for name in live:
            window = self.windows[name]
            window.trim(horizon)
            stats = window.stats()
            verdicts[name] = self._breach(*stats)
            if verdicts[name] is None and stats[0] >= self.config.min_requests:
                proven.add(name)
        for name in live:
            reason = verdicts[name]
            # Only pull an upstream when another one has shown, on enough requests, that
            # it does better: an idle canary is no proof that stable is the problem.
            healthy_others = [o for o in proven if o != name and o not in self.disabled]
            if reason is not None and healthy_others:
                self._roll_back(name, reason[0], reason[1])

    def _breach(self, n: int, error_rate: float, p99: float) -> tuple[str, str] | None:
        c = self.config
        if n < c.min_requests:
            return None
        if error_rate > c.max_error_rate:
            return "error_rate", f"error rate {error_rate:.3f} > {c.max_error_rate} over {n}"
        if p99 > c.max_p99_ms:
            return "latency", f"p99 {p99:.0f} ms > {c.max_p99_ms:.0f} ms over {n}"
        return None

    def probe_result(self, upstream: str, ok: bool, serving: Iterable[str]) -> None:
        window = self.windows.get(upstream)
        if window is None or not self.config.enabled or self.config.health_failures <= 0:
            return
        window.consecutive_probe_failures = 0 if ok else window.consecutive_probe_failures + 1
        if window.consecutive_probe_failures >= self.config.health_failures:
            others = [
                o
                for o in serving
                if o != upstream
                and o not in self.disabled
                and self.windows.get(o, Window()).consecutive_probe_failures == 0
            ]
            if others and upstream not in self.disabled:
                self._roll_back(
                    upstream,
                    "health",
                    f"{window.consecutive_probe_failures} failed health probes in a row",
                )

    def _roll_back(self, upstream: str, reason: str, detail: str) -> None:
        self.disabled = self.disabled | {upstream}
        # Wall-clock time for people reading /admin/status; the windows run on `clock`.
        event = RollbackEvent(upstream=upstream, reason=reason, at=time.time(), detail=detail)
        self.events.append(event)
        del self.events[:-50]
        log.error(
            "automatic rollback",
            extra={"fields": {"upstream": upstream, "reason": reason, "detail": detail}},
        )
        if self._on_rollback is not None:
            self._on_rollback(event)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, window in self.windows.items():
            n, rate, p99 = window.stats()
            out[name] = {
                "rolled_back": name in self.disabled,
                "requests_total": window.total,
                "errors_total": window.errors,
                "window_requests": n,
                "window_error_rate": round(rate, 4),
                "window_p99_ms": round(p99, 1),
            }
        return out
