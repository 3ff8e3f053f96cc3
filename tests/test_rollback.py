"""Rolling windows and the rollback decision, with a hand-driven clock."""

from __future__ import annotations

from shimgw.config import RollbackConfig
from shimgw.rollback import RollbackTracker, Window

LIMITS = RollbackConfig(
    enabled=True,
    max_error_rate=0.05,
    max_p99_ms=300.0,
    min_requests=20,
    window_s=10.0,
    health_failures=2,
    health_interval_s=1.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_counts_and_p99() -> None:
    window = Window()
    for i in range(1000):
        window.add(100.0 + i / 1000, 10.0 if i < 985 else 500.0, failed=i % 100 == 0)
    n, rate, p99 = window.stats()
    assert (n, rate) == (1000, 0.01)
    assert 500 <= p99 <= 500 * 1.12  # within one histogram bucket above the true p99
    window.trim(102.0)
    assert window.stats()[0] == 0 and window.total == 1000


def tracker(clock: Clock) -> RollbackTracker:
    return RollbackTracker(LIMITS, ["stable", "canary"], clock=clock)


def feed(
    t: RollbackTracker,
    clock: Clock,
    name: str,
    n: int,
    *,
    failed: bool = False,
    seconds: float = 0.01,
) -> None:
    for _ in range(n):
        clock.now += 0.01
        t.record(name, seconds, failed, ["stable", "canary"])


def test_error_burst_rolls_back_canary_only() -> None:
    clock = Clock()
    t = tracker(clock)
    feed(t, clock, "stable", 50)
    feed(t, clock, "canary", 30, failed=True)
    clock.now += 1
    t.evaluate(["stable", "canary"])
    assert t.disabled == {"canary"}
    assert t.events[0].reason == "error_rate"


def test_latency_breach() -> None:
    clock = Clock()
    t = tracker(clock)
    feed(t, clock, "stable", 50)
    feed(t, clock, "canary", 50, seconds=0.9)
    t.evaluate(["stable", "canary"])
    assert t.disabled == {"canary"} and t.events[0].reason == "latency"


def test_below_min_requests_never_fires() -> None:
    clock = Clock()
    t = tracker(clock)
    feed(t, clock, "stable", 50)
    feed(t, clock, "canary", 19, failed=True)
    t.evaluate(["stable", "canary"])
    assert t.disabled == frozenset()


def test_both_bad_rolls_back_neither() -> None:
    clock = Clock()
    t = tracker(clock)
    feed(t, clock, "stable", 50, failed=True)
    feed(t, clock, "canary", 50, failed=True)
    t.evaluate(["stable", "canary"])
    assert t.disabled == frozenset()


def test_old_errors_leave_the_window() -> None:
    clock = Clock()
    t = tracker(clock)
    feed(t, clock, "canary", 30, failed=True)
    clock.now += 60
    feed(t, clock, "stable", 50)
    feed(t, clock, "canary", 30)
    t.evaluate(["stable", "canary"])
    assert t.disabled == frozenset()


def test_health_probes_and_reset() -> None:
    clock = Clock()
    t = tracker(clock)
    t.probe_result("canary", False, ["stable", "canary"])
    assert t.disabled == frozenset()
    t.probe_result("canary", False, ["stable", "canary"])
    assert t.disabled == {"canary"} and t.events[-1].reason == "health"
    feed(t, clock, "canary", 30, failed=True)
    t.reset()
    assert t.disabled == frozenset()
    # Fresh windows: the errors that caused the rollback cannot cause it again at once.
    assert t.windows["canary"].stats()[0] == 0


def test_reconfigure_keeps_or_clears() -> None:
    clock = Clock()
    t = tracker(clock)
    t.disabled = frozenset({"canary"})
    t.reconfigure(LIMITS, ["stable", "canary"], keep_state=True)
    assert t.disabled == {"canary"}
    t.reconfigure(LIMITS, ["stable", "canary"], keep_state=False)
    assert t.disabled == frozenset()
