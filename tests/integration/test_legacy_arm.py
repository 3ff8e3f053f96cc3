"""The legacy arm over loopback: pass-through fidelity, routing, stickiness, reload, rollback."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from gwsupport import ADMIN_TOKEN, Gateway, GatewayFactory

from shimgw.reference import Fault, RunStore
from shimgw.reference.legacy import RunningLegacy, start_legacy
from shimgw.reference.legacy_store import LegacyStore, seed_legacy

ROLLBACK = {"max_error_rate": 0.1, "max_p99_ms": 5000, "min_requests": 20, "window_s": 60}


@pytest.fixture
def legacy_store() -> LegacyStore:
    return seed_legacy(LegacyStore())


@pytest.fixture
async def legacy(legacy_store: LegacyStore) -> AsyncIterator[RunningLegacy]:
    running = await start_legacy(legacy_store)
    yield running
    await running.stop()
    assert not legacy_store.violations, legacy_store.violations


def with_legacy(legacy: RunningLegacy, weight: int, **extra: Any) -> dict[str, Any]:
    return {"legacy": {"url": legacy.url, "protocol": "phase1", "weight": weight, **extra}}


async def raw_get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_pass_through_keeps_request_and_answer_bytes(
    make_gateway: GatewayFactory,
    legacy: RunningLegacy,
    legacy_store: LegacyStore,
    store: RunStore,
) -> None:
    gateway = await make_gateway({"stable": 0}, upstreams=with_legacy(legacy, 1))
    sent = {
        "X-Request-ID": "client.rid-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=1",
        "Accept": "application/json",
        "X-Unrelated": "not passed",
    }
    target = "/api/v1/jobs?owner=alice&per_page=5&page=1"
    answer = await gateway.call("GET", target, key="key-1", headers=sent)
    seen = legacy_store.seen[-1]
    assert (seen.method, seen.path, seen.query_string) == (
        "GET",
        "/api/v1/jobs",
        "owner=alice&per_page=5&page=1",
    )
    assert seen.header("X-Api-Key") == "key-1"
    assert seen.header("X-Request-ID") == "client.rid-1"
    assert seen.header("X-Correlation-ID") == "client.rid-1"
    assert seen.header("tracestate") == "vendor=1" and seen.header("Accept") == "application/json"
    traceparent = seen.header("traceparent") or ""
    assert traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"  # the trace continued
    assert seen.header("X-Unrelated") is None and seen.header("Authorization") is None
    # The answer is the legacy backend's, byte for byte (asked directly with the same id).
    status, headers, body = await raw_get(
        legacy.url + target, {"X-Api-Key": "key-1", "X-Request-ID": "client.rid-1"}
    )
    assert (answer.status, answer.body) == (status, body)
    assert answer.header("Content-Type") == headers["Content-Type"]
    assert answer.header("X-Request-ID") == "client.rid-1"
    assert [s.operation for s in store.seen] == ["getHealth"]  # only probed, never called


async def test_pass_through_of_bodies_errors_and_every_status(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore
) -> None:
    gateway = await make_gateway({"stable": 0}, upstreams=with_legacy(legacy, 1))
    raw = b'{"name":"n","engine":"flink","owner":"o","tags":["b","a"]}'
    created = await gateway.call(
        "POST", "/api/v1/jobs", data=raw, headers={"Content-Type": "application/json"}
    )
    assert created.status == 201 and legacy_store.seen[-1].body == raw
    job_id = created.json["job_id"]
    assert (await gateway.call("GET", f"/api/v1/jobs/{job_id}")).json == created.json
    missing = await gateway.call("GET", "/api/v1/jobs/999", headers={"X-Request-ID": "r-404"})
    assert missing.status == 404 and missing.json["request_id"] == "r-404"
    assert (await gateway.call("DELETE", "/api/v1/jobs/3")).status == 409
    logs = await gateway.call("GET", "/api/v1/jobs/2/logs")
    assert logs.body == b"1709287202 stdout reading C:\\\\data\\\\in.csv\n" + (
        b"1709287380 stderr error: missing input\\r\\nabort\n"
    )
    gone = await gateway.call("GET", "/api/v1/jobs/1/stats")
    # Withdrawn operations are answered by the gateway itself, whatever the arm.
    assert gone.status == 410 and legacy_store.seen[-1].operation != "getJobStats"
    unauthorised = await gateway.call("GET", "/api/v1/jobs/1", key=None)
    assert unauthorised.status == 401


async def test_legacy_answer_headers_pass_through(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore
) -> None:
    gateway = await make_gateway({"stable": 0}, upstreams=with_legacy(legacy, 1))
    body = b'{"error":"slow down","code":429,"request_id":"r-429"}'
    legacy_store.inject(
        Fault(
            operation="getJob",
            status=429,
            body=body,
            content_type="application/json",
            headers={"Retry-After": "7", "X-Legacy-Extra": "kept", "Connection": "close"},
        )
    )
    answer = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "r-429"})
    assert (answer.status, answer.body) == (429, body)
    assert answer.header("Retry-After") == "7" and answer.header("X-Legacy-Extra") == "kept"
    assert answer.header("Connection") != "close"  # hop-by-hop: the legacy hop's, not ours


@pytest.mark.parametrize(("mode", "status"), [("enforce", 502), ("report", 200)])
async def test_legacy_answers_are_checked_against_phase1(
    make_gateway: GatewayFactory,
    legacy: RunningLegacy,
    legacy_store: LegacyStore,
    mode: str,
    status: int,
) -> None:
    gateway = await make_gateway(
        {"stable": 0}, upstreams=with_legacy(legacy, 1), validation={"responses": mode}
    )
    legacy_store.inject(
        Fault(operation="getJob", status=200, body=b'{"job_id":"one"}', content_type="x")
    )
    gateway.check_phase1 = mode == "enforce"
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == status
    if mode == "report":
        assert answer.body == b'{"job_id":"one"}'  # returned as it is, counted
    _, metrics = await admin_get(gateway, "/metrics")
    assert (
        'shimgw_contract_violations_total{contract="phase1",direction="received",'
        'operation="getJob"} 1.0'
    ) in metrics


async def admin_get(gateway: Gateway, path: str) -> tuple[int, Any]:
    async with gateway.session.get(f"{gateway.admin_url}{path}") as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


def arm_of(legacy_store: LegacyStore, store: RunStore, before: tuple[int, int]) -> str:
    if len(legacy_store.seen) > before[0]:
        return "legacy"
    assert len(store.seen) > before[1]
    return store.seen[-1].instance


async def routed(
    gateway: Gateway, legacy_store: LegacyStore, store: RunStore, path: str, **kw: Any
) -> str:
    before = (len(legacy_store.seen), len(store.seen))
    answer = await gateway.call("GET", path, **kw)
    assert answer.status == 200
    return arm_of(legacy_store, store, before)


async def test_weights_are_sticky_and_routes_groups_forced_arm_and_reload_apply(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 50},
        upstreams=with_legacy(legacy, 50),
        routing={
            "routes": {"listEngines": {"stable": 1}},
            "groups": [
                {
                    "name": "internal",
                    "header": "X-Client-Group",
                    "values": ["internal"],
                    "upstream": "stable",
                }
            ],
        },
    )
    first = {}
    for key in (f"client-{i}" for i in range(40)):
        first[key] = await routed(gateway, legacy_store, store, "/api/v1/jobs/1", key=key)
    assert set(first.values()) == {"legacy", "stable"}
    for key, arm in first.items():  # sticky: a client keeps its arm
        assert await routed(gateway, legacy_store, store, "/api/v1/jobs/1", key=key) == arm
    legacy_keys = [k for k, arm in first.items() if arm == "legacy"]
    assert (
        await routed(gateway, legacy_store, store, "/api/v1/engines", key=legacy_keys[0])
        == "stable"
    )
    internal = {"X-Client-Group": "internal"}
    for key in legacy_keys[:5]:
        assert (
            await routed(gateway, legacy_store, store, "/api/v1/jobs/2", key=key, headers=internal)
            == "stable"
        )
    stable_keys = [k for k, arm in first.items() if arm == "stable"]
    forced = {"X-Shimgw-Upstream": "legacy", "X-Shimgw-Admin-Token": ADMIN_TOKEN}
    assert (
        await routed(
            gateway, legacy_store, store, "/api/v1/jobs/1", key=stable_keys[0], headers=forced
        )
        == "legacy"
    )
    # "raise the weight": /v2 to 100 %, then back to legacy only, by config edits.
    runtime = gateway.service.runtime
    config = dict(runtime.current.config.raw)
    config["upstreams"] = {
        **config["upstreams"],
        "legacy": {**config["upstreams"]["legacy"], "weight": 0},
    }
    gateway.write_config(config)
    assert await runtime.reload("test")
    assert {
        await routed(gateway, legacy_store, store, "/api/v1/jobs/1", key=k) for k in legacy_keys
    } == {"stable"}
    config["upstreams"] = {
        "stable": {**config["upstreams"]["stable"], "weight": 0},
        "legacy": {**config["upstreams"]["legacy"], "weight": 1},
    }
    config["routing"] = {}
    gateway.write_config(config)
    assert await runtime.reload("test")
    assert {
        await routed(gateway, legacy_store, store, "/api/v1/jobs/1", key=k) for k in stable_keys
    } == {"legacy"}


async def test_rollback_sends_the_v2_share_back_to_legacy(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 50}, upstreams=with_legacy(legacy, 50), rollback=ROLLBACK
    )
    store.inject(Fault(instance="stable", operation="getRun", status=500, times=-1))
    statuses: Counter[int] = Counter()
    for i in range(80):
        statuses[(await gateway.call("GET", "/api/v1/jobs/1", key=f"k{i}")).status] += 1
    assert statuses[502] > 20  # the /v2 share failed
    await asyncio.sleep(0.3)  # windows are judged at most every 0.25 s
    await gateway.call("GET", "/api/v1/jobs/1", key="k0")
    _, status = await admin_get(gateway, "/admin/status")
    assert status["effective_weights"] == {"stable": 0, "legacy": 50}
    assert status["rollbacks"][0]["upstream"] == "stable"
    arms = {
        await routed(gateway, legacy_store, store, "/api/v1/jobs/1", key=f"k{i}") for i in range(30)
    }
    assert arms == {"legacy"}


async def test_probes_ask_the_legacy_status_endpoint(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore
) -> None:
    await make_gateway({"stable": 1}, upstreams=with_legacy(legacy, 0))
    assert any(s.path == "/api/v1/status" for s in legacy_store.seen)


async def test_legacy_arm_has_the_same_back_pressure(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore
) -> None:
    gateway = await make_gateway(
        {"stable": 0}, upstreams=with_legacy(legacy, 1, max_connections=1, max_queue=0)
    )
    legacy_store.inject(Fault(operation="getJob", delay=1.0))
    slow = asyncio.create_task(gateway.call("GET", "/api/v1/jobs/1"))
    for _ in range(100):  # until the slow call holds the one slot
        if any(s.operation == "getJob" for s in legacy_store.seen):
            break
        await asyncio.sleep(0.01)
    busy = await gateway.call("GET", "/api/v1/jobs/2")
    assert busy.status == 503 and busy.header("Retry-After") == "1"
    assert (await slow).status == 200


async def test_absolute_form_target_reaches_legacy_as_origin_form(
    make_gateway: GatewayFactory, legacy: RunningLegacy, legacy_store: LegacyStore
) -> None:
    """RFC 9112 §3.2.2: a server accepts absolute-form; the legacy arm sends its origin-form
    (pasted after the arm's URL as it came, it made a URL yarl refused: traceback, 502)."""
    gateway = await make_gateway({"stable": 0}, upstreams=with_legacy(legacy, 1))
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET http://evil.example@127.0.0.1:9/api/v1/jobs?owner=alice HTTP/1.1\r\n"
        b"Host: x\r\nX-Api-Key: key-1\r\nConnection: close\r\n\r\n"
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    seen = legacy_store.seen[-1]
    assert (seen.path, seen.query_string) == ("/api/v1/jobs", "owner=alice")
