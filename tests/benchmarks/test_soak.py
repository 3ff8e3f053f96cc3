"""The fault soak's short profile (`make soak` runs the long one): mixed load through a
real gateway process while the orchestrator refuses, resets, stalls, answers garbage and
gzip bombs and 5xx bursts, the config is rewritten, and the gateway restarts once."""

from __future__ import annotations

from benchmarks.soak import Plan, soak


async def test_short_soak_loses_nothing_and_duplicates_nothing() -> None:
    report = await soak(
        Plan(duration_s=18, concurrency=6, fault_every_s=0.5, reload_every_s=3, restart=True)
    )
    assert report.answered > 200, report
    assert set(report.fault_episodes) == {
        "refuse",
        "reset",
        "stall",
        "garbage",
        "gzip-bomb",
        "5xx-burst",
    }, report.fault_episodes
    assert report.restarts == 1 and report.reloads >= 3
    assert report.lost == 0, report.lost_kinds
    assert report.creates_answered > 0 and report.duplicated_creates == 0
    assert report.errors_injected > 0  # the faults did reach clients, inside their windows
    assert report.error_rate_outside < 0.001, report.outside_samples
    assert report.violations == 0
