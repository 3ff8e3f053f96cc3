"""Shadow comparison over loopback: legacy ↔ /v2, the known disagreement, noise, safety, bounds."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from gwsupport import ADMIN_TOKEN, Gateway, GatewayFactory

from shimgw.diffscmd import run_diffs
from shimgw.reference import Fault, RunStore
from shimgw.reference.legacy import RunningLegacy, start_legacy
from shimgw.reference.legacy_store import LegacyStore, seed_legacy
from shimgw.shadow.runner import ShadowRunner


@pytest.fixture
def legacy_store() -> LegacyStore:
    return seed_legacy(LegacyStore())


@pytest.fixture
async def legacy(legacy_store: LegacyStore) -> AsyncIterator[RunningLegacy]:
    # The known disagreement: legacy writes "unknown" as the owner of a job without one.
    running = await start_legacy(legacy_store, missing_owner="unknown")
    yield running
    await running.stop()
    assert not legacy_store.violations, legacy_store.violations


def legacy_arm(legacy: RunningLegacy, weight: int = 1, **extra: Any) -> dict[str, Any]:
    return {"legacy": {"url": legacy.url, "protocol": "phase1", "weight": weight, **extra}}


def rule(operations: list[str], to: str, **extra: Any) -> dict[str, Any]:
    return {"operations": operations, "to": to, "sample": 1, **extra}


def runner(gateway: Gateway) -> ShadowRunner:
    return gateway.service.gateway.shadow


async def settled(gateway: Gateway) -> None:
    """Wait (bounded) until no shadow call runs or waits."""
    for _ in range(200):
        if runner(gateway).pending == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("shadow calls did not finish")


async def diffs(gateway: Gateway) -> dict[str, Any]:
    async with gateway.session.get(f"{gateway.admin_url}/admin/diffs") as resp:
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
        return doc


async def metrics(gateway: Gateway) -> str:
    async with gateway.session.get(f"{gateway.admin_url}/metrics") as resp:
        return await resp.text()


async def test_legacy_primary_shadowed_to_v2_shows_the_known_disagreement(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 0},
        upstreams=legacy_arm(legacy),
        routing={"shadow": [rule(["getJob", "listJobs"], "stable")]},
        shadowing={"noise_requests": 0},
    )
    for job_id in range(1, 7):
        answer = await gateway.call("GET", f"/api/v1/jobs/{job_id}", key="secret-key-1")
        assert answer.status == 200  # answered by legacy, as it is
    await gateway.call("GET", "/api/v1/jobs?per_page=3", key="secret-key-1")
    await settled(gateway)
    assert sum(1 for s in store.seen if s.operation == "getRun") == 6  # every getJob shadowed
    doc = await diffs(gateway)
    get_job = doc["operations"]["getJob"]
    assert get_job["counts"] == {
        "match": 5,
        "differ": 1,
        "noise-only": 0,
        "error": 0,
        "dropped": 0,
    }
    assert get_job["pointers"] == {"/owner": 1}
    assert doc["operations"]["listJobs"]["pointers"] == {"/jobs/*/owner": 1}  # job 4 on page 1
    sample = next(s for s in doc["samples"] if s["operation"] == "getJob")
    assert sample["pointers"] == ["/owner"] and sample["request"] == "GET /api/v1/jobs/4"
    assert sample["primary"]["arm"] == "legacy" and sample["primary"]["body"]["owner"] == "unknown"
    assert sample["shadow"]["arm"] == "stable" and sample["shadow"]["body"]["owner"] == ""
    assert "secret-key-1" not in orjson.dumps(doc).decode()  # the key is never in a sample
    text = await metrics(gateway)
    assert 'shimgw_shadow_comparisons_total{operation="getJob",result="match"} 5.0' in text
    out, err = io.StringIO(), io.StringIO()
    assert await asyncio.to_thread(run_diffs, gateway.admin_url or "", "table", out, err) == 0
    row = next(line for line in out.getvalue().splitlines() if line.startswith("getJob"))
    assert row.split()[1:7] == ["6", "5", "1", "0", "0", "0"] and "/owner (1)" in row
    out = io.StringIO()
    assert await asyncio.to_thread(run_diffs, gateway.admin_url or "", "json", out, err) == 0
    assert json.loads(out.getvalue())["operations"]["getJob"]["counts"]["differ"] == 1
    assert 'shimgw_shadow_field_diffs_total{operation="getJob",pointer="/owner"} 1.0' in text


async def test_v2_primary_shadowed_to_legacy_in_one_group_with_ignore_list(
    make_gateway: GatewayFactory, legacy: RunningLegacy, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 1},
        upstreams=legacy_arm(legacy, 0),
        routing={
            "groups": [
                {
                    "name": "internal",
                    "header": "X-Client-Group",
                    "values": ["i"],
                    "upstream": "stable",
                }
            ],
            "shadow": [rule(["getJob"], "legacy", group="internal", ignore=["/owner"])],
        },
        shadowing={"noise_requests": 0},
    )
    await gateway.call("GET", "/api/v1/jobs/4")  # not in the group: not shadowed
    await gateway.call("GET", "/api/v1/jobs/4", headers={"X-Client-Group": "i"})
    await gateway.call("GET", "/api/v1/jobs/99", headers={"X-Client-Group": "i"})
    await settled(gateway)
    counts = (await diffs(gateway))["operations"]["getJob"]["counts"]
    # /owner is ignored; the 404s differ only in their message wording
    assert (counts["match"], counts["differ"]) == (1, 1)
    sample = (await diffs(gateway))["samples"][0]
    assert sample["pointers"] == ["/error"] and sample["primary"]["status"] == 404


async def test_noise_learning_marks_fields_that_change_between_two_primary_answers(
    make_gateway: GatewayFactory, legacy: RunningLegacy, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 1},
        upstreams=legacy_arm(legacy, 0),
        routing={"shadow": [rule(["getJob"], "legacy")]},
        shadowing={"noise_requests": 1},
    )
    # The client's own call sees an updateTime the primary's second answer no longer has,
    # as a clock-driven field would: the field is noise, not drift.
    run = store.get_run(1)
    assert run is not None
    changed = {**run.to_json(), "updateTime": "2030-01-01T00:00:00Z"}
    store.inject(
        Fault(
            instance="stable",
            operation="getRun",
            status=200,
            body=orjson.dumps(changed),
            content_type="application/json",
        )
    )
    first = await gateway.call("GET", "/api/v1/jobs/1")
    assert first.json["updated"] == 1893456000
    await settled(gateway)
    doc = await diffs(gateway)
    assert doc["operations"]["getJob"]["noise"] == ["/updated"]
    assert doc["operations"]["getJob"]["counts"]["noise-only"] == 1
    await gateway.call("GET", "/api/v1/jobs/1")  # both agree now: a match
    await settled(gateway)
    assert (await diffs(gateway))["operations"]["getJob"]["counts"]["match"] == 1
    asked = [s.operation for s in store.seen if s.operation == "getRun"]
    assert len(asked) == 3  # the primary was asked twice only for the first (noise) call


async def test_shadow_latency_and_errors_never_touch_the_primary(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 0},
        upstreams=legacy_arm(legacy),
        routing={"shadow": [rule(["getJob"], "stable")]},
        shadowing={"noise_requests": 0},
        rollback={"min_requests": 1, "max_error_rate": 0.01},
    )
    baseline = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "r1"})
    await settled(gateway)
    store.inject(Fault(instance="stable", operation="getRun", delay=3, times=1))
    slow = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "r1"})
    # The client has its answer while the shadow call is still waiting on the slow arm.
    assert runner(gateway).pending == 1
    assert (slow.status, slow.body) == (baseline.status, baseline.body)
    store.inject(Fault(instance="stable", operation="getRun", drop=True, times=-1))
    for _ in range(5):
        failed = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "r1"})
        assert (failed.status, failed.body) == (baseline.status, baseline.body)
    for _ in range(100):
        if (await diffs(gateway))["operations"]["getJob"]["counts"]["error"] == 5:
            break
        await asyncio.sleep(0.02)
    assert (await diffs(gateway))["operations"]["getJob"]["counts"]["error"] == 5
    # Shadow failures are not the arm's record: no rollback, no requests counted against it.
    status = gateway.service.runtime.status()
    assert status["rollbacks"] == [] and status["upstreams"]["stable"]["errors_total"] == 0
    await gateway.service.stop()  # shutdown cancels the slow shadow call; never waits for it
    assert runner(gateway).pending == 0


async def test_bounded_queue_drops_and_counts(
    make_gateway: GatewayFactory, legacy: RunningLegacy, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 0},
        upstreams=legacy_arm(legacy),
        routing={"shadow": [rule(["getJob"], "stable")]},
        shadowing={"concurrency": 1, "queue": 1, "noise_requests": 0},
    )
    store.inject(Fault(instance="stable", operation="getRun", delay=3, times=-1))
    for _ in range(5):
        assert (await gateway.call("GET", "/api/v1/jobs/1")).status == 200
    assert runner(gateway).pending == 2  # one running, one waiting
    counts = (await diffs(gateway))["operations"]["getJob"]["counts"]
    assert counts["dropped"] == 3
    assert 'result="dropped"} 3.0' in await metrics(gateway)


async def test_large_answers_are_not_shadowed(
    make_gateway: GatewayFactory, legacy: RunningLegacy, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 0},
        upstreams=legacy_arm(legacy),
        routing={"shadow": [rule(["listJobs"], "stable")]},
        shadowing={"max_body_bytes": 1, "noise_requests": 0},
    )
    await gateway.call("GET", "/api/v1/jobs")
    assert (await diffs(gateway))["operations"]["listJobs"]["counts"]["dropped"] == 1
    assert not [s for s in store.seen if s.operation == "listRuns"]


async def test_unsafe_calls_are_shadowed_only_to_a_shadow_only_arm(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 1},
        upstreams={
            **legacy_arm(legacy, 0),
            "mirror": {
                "url": gateway_url(store, legacy),
                "protocol": "phase1",
                "shadow_only": True,
            },
        },
        routing={
            "shadow": [rule(["getJob"], "legacy"), rule(["createJob"], "mirror", unsafe=True)]
        },
        shadowing={"noise_requests": 3},
    )
    body = {"name": "n", "engine": "flink", "owner": "o", "callback_url": "https://u:pw@h/x"}
    created = await gateway.call("POST", "/api/v1/jobs", json=body)
    assert created.status == 201
    await settled(gateway)
    creates = [s for s in legacy_store.seen if s.operation == "createJob"]
    assert len(creates) == 1  # to the mirror only, never to the live legacy arm
    assert len([s for s in store.seen if s.operation == "createRun"]) == 1  # never asked twice
    # A rule naming getJob never shadows a POST; the mirror cannot be forced, weighed or routed.
    await gateway.call("POST", "/api/v1/jobs/1/cancel")
    await settled(gateway)
    assert not [s for s in legacy_store.seen if s.operation == "cancelJob"]
    forced = {"X-Shimgw-Upstream": "mirror", "X-Shimgw-Admin-Token": ADMIN_TOKEN}
    before = len(legacy_store.seen)
    await gateway.call("GET", "/api/v1/engines", headers=forced)
    assert len(legacy_store.seen) == before  # not even a forced arm reaches a shadow_only one
    doc = await diffs(gateway)
    assert "pw@" not in orjson.dumps(doc).decode()  # URL credentials redacted in samples


def gateway_url(store: RunStore, legacy: RunningLegacy) -> str:
    # The mirror is the same legacy process under another name (its own arm, shadow_only).
    return legacy.url.replace("127.0.0.1", "localhost")


def test_diffs_command_says_one_line_when_the_admin_is_unreachable() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_diffs("http://127.0.0.1:9", "table", out, err) == 1
    assert err.getvalue().startswith("shimgw diffs: cannot read http://127.0.0.1:9/admin/diffs")
    assert run_diffs("file:///etc/passwd", "table", out, err) == 1 and not out.getvalue()


async def test_a_reload_starts_a_new_book(
    make_gateway: GatewayFactory, legacy: RunningLegacy, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 0},
        upstreams=legacy_arm(legacy),
        routing={"shadow": [rule(["getJob"], "stable")]},
        shadowing={"noise_requests": 0},
    )
    await gateway.call("GET", "/api/v1/jobs/4")
    await settled(gateway)
    assert (await diffs(gateway))["operations"]["getJob"]["counts"]["differ"] == 1
    runtime = gateway.service.runtime
    config = dict(runtime.current.config.raw)
    config["routing"] = {"shadow": [rule(["getJob"], "stable", ignore=["/owner"])]}
    gateway.write_config(config)
    assert await runtime.reload("test")
    await gateway.call("GET", "/api/v1/jobs/4")
    await settled(gateway)
    doc = await diffs(gateway)
    assert doc["version"] == runtime.current.version
    assert doc["operations"]["getJob"]["counts"]["differ"] == 0  # earlier diffs were dropped
    assert doc["operations"]["getJob"]["counts"]["match"] == 1 and doc["samples"] == []
