"""The runtime without sockets: picking, health bookkeeping, reloads and pool hand-over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from handler_support import FakeUpstream, fake_factory

from shimgw.config import load_config, parse_config
from shimgw.runtime import ADMIN_TOKEN_HEADER, Runtime, http_upstream, limits_of
from shimgw.snapshot import build_snapshot
from shimgw.transport import FastUpstream
from shimgw.upstream import HttpUpstream

TOKEN = "runtime-test-token-0123456789"
TWO = {
    "stable": {"url": "http://stable.invalid", "weight": 1},
    "canary": {"url": "http://canary.invalid", "weight": 0},
}


def write(path: Path, **raw: Any) -> Path:
    path.write_text(yaml.safe_dump({"upstreams": TWO, **raw}, allow_unicode=True))
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(tmp_path / "shimgw.yaml", admin={"port": "off"})


@pytest.fixture
def hooks() -> list[str]:
    return []


@pytest.fixture
async def runtime(config_file: Path, hooks: list[str]) -> Any:
    rt = Runtime.from_file(config_file, upstream_factory=fake_factory, reload_hook=hooks.append)
    yield rt
    await rt.close()


def fake(rt: Runtime, name: str) -> FakeUpstream:
    up = rt.current.upstreams[name]
    assert isinstance(up, FakeUpstream)
    return up


def test_transports_by_config() -> None:
    fast = parse_config({"upstreams": TWO}, base=Path("."))
    slow = parse_config(
        {"upstreams": TWO, "upstream_transport": "aiohttp", "tracing": {"sample_ratio": 0.5}},
        base=Path("."),
    )
    stable = fast.upstreams["stable"]
    assert isinstance(http_upstream(stable, fast), FastUpstream)
    traced = http_upstream(slow.upstreams["stable"], slow)
    # No aiohttp client instrumentation: the /v2 call's client span is the gateway's own,
    # the same for both transports (tests/integration/test_traces.py).
    assert isinstance(traced, HttpUpstream) and not traced._trace_configs
    limits = limits_of(fast, stable)
    assert (limits.connect_timeout, limits.total_timeout) == (2.0, 10.0)
    assert limits.max_body_bytes == fast.limits.max_upstream_body_bytes


@pytest.mark.parametrize(
    ("headers", "picked"),
    [
        ({"x-shimgw-upstream": "canary", ADMIN_TOKEN_HEADER.lower(): TOKEN}, "canary"),
        ({"x-shimgw-upstream": "canary", ADMIN_TOKEN_HEADER.lower(): "wrong"}, "stable"),
        ({"x-shimgw-upstream": "canary"}, "stable"),
        ({"x-shimgw-upstream": "nowhere", ADMIN_TOKEN_HEADER.lower(): TOKEN}, "stable"),
        ({ADMIN_TOKEN_HEADER.lower(): "\udcff"}, "stable"),  # undecodable: refused, no raise
    ],
)
async def test_a_forced_arm_needs_the_token(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], picked: str
) -> None:
    monkeypatch.setenv("SHIMGW_ADMIN_TOKEN", TOKEN)
    headers = {"x-api-key": "client-1", **headers}
    assert runtime.choose(runtime.current, "getJob", headers, "client-1", None) == picked
    assert runtime.admin_ok(TOKEN) and not runtime.admin_ok(None)


async def test_no_token_configured_no_forced_arm(runtime: Runtime) -> None:
    assert not runtime.admin_ok("")
    headers = {"x-shimgw-upstream": "canary", ADMIN_TOKEN_HEADER.lower(): ""}
    assert runtime.choose(runtime.current, "getJob", headers, None, None) == "stable"


async def test_probes_and_rollback_reset(runtime: Runtime, hooks: list[str]) -> None:
    runtime.probe_result("canary", False)
    assert runtime.probes == {"canary": False}
    runtime.record("stable", 0.01, failed=False)
    assert runtime.rollback.windows["stable"].total == 1
    runtime.rollback.disabled = frozenset({"canary"})
    assert runtime.effective_weights() == {"stable": 1, "canary": 0}
    runtime.reset_rollback("config-change")
    assert runtime.rollback.disabled == frozenset() and hooks == []
    runtime.reset_rollback()
    assert hooks == ["admin-reset"]
    status = runtime.status()
    assert status["configured_weights"] == {"stable": 1, "canary": 0}
    assert status["rollbacks"] == []


async def test_a_good_reload_swaps_and_keeps_unchanged_pools(
    runtime: Runtime, config_file: Path, hooks: list[str]
) -> None:
    before = runtime.current
    stable = fake(runtime, "stable")
    canary = fake(runtime, "canary")
    moved = {**TWO, "stable": {"url": "http://stable.invalid", "weight": 3}}
    moved["canary"] = {"url": "http://elsewhere.invalid", "weight": 1}
    write(config_file, upstreams=moved, admin={"port": "off"})
    assert await runtime.reload("test") is True
    assert runtime.current is not before and runtime.reloads == 1 and hooks == ["test"]
    assert fake(runtime, "stable") is stable  # same URL and limits: its pool is kept
    assert fake(runtime, "canary") is not canary  # a new URL: a new pool
    assert runtime.effective_weights() == {"stable": 3, "canary": 1}
    assert runtime.describe()["last_error"] is None
    # The replaced pool is closed once no request can use it any more (here: on close).
    assert not canary.closed
    await runtime.close()
    await asyncio.sleep(0)
    assert canary.closed and fake(runtime, "stable").closed


async def test_a_reload_of_the_same_files_changes_nothing(
    runtime: Runtime, hooks: list[str]
) -> None:
    before = runtime.current
    assert await runtime.reload("poll") is True
    assert runtime.current is before and runtime.reloads == 0


async def test_a_bad_reload_is_refused_and_the_old_snapshot_serves(
    runtime: Runtime, config_file: Path
) -> None:
    before = runtime.current
    write(config_file, upstreams={"stable": {"url": "http://s", "weight": -1}})
    assert await runtime.reload("test") is False
    assert runtime.current is before
    assert runtime.last_error == "upstreams.stable.weight: a weight is a whole number ≥ 0, got -1"
    assert runtime.metrics.registry.get_sample_value("shimgw_reloads_total", {"result": "refused"})


async def test_an_unforeseen_reload_failure_is_one_line_too(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any) -> Any:
        raise RuntimeError("parser bug")

    monkeypatch.setattr("shimgw.runtime._build_from", explode)
    assert await runtime.reload("test") is False
    assert runtime.last_error is not None
    assert runtime.last_error.endswith("cannot be loaded: RuntimeError: parser bug")


async def test_without_a_file_there_is_nothing_to_reload() -> None:
    snapshot = build_snapshot(parse_config({"upstreams": TWO}, base=Path(".")))
    rt = Runtime(snapshot, upstream_factory=fake_factory)
    assert await rt.reload("test") is False
    assert rt.last_error == "no config file to reload"
    await rt.close()


def test_from_file_reads_the_config(config_file: Path) -> None:
    assert load_config(config_file).admin.port is None
