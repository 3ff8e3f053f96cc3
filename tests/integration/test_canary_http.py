"""Canary routing over HTTP: split, forced arm, automatic rollback, admin status and metrics."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from typing import Any

from gwsupport import ADMIN_TOKEN, Gateway, GatewayFactory

from shimgw.reference import Fault, Health, RunStore

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROLLBACK = {"max_error_rate": 0.1, "max_p99_ms": 5000, "min_requests": 20, "window_s": 60}


async def admin(gateway: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with gateway.session.request(method, f"{gateway.admin_url}{path}", **kwargs) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


def arms(store: RunStore, since: int) -> Counter[str]:
    return Counter(s.instance for s in store.seen[since:] if s.operation == "getRun")


async def test_split_is_sticky_per_key(make_gateway: GatewayFactory, store: RunStore) -> None:
    gateway = await make_gateway({"stable": 50, "canary": 50})
    first: dict[str, str] = {}
    for round_ in range(2):
        for i in range(40):
            key = f"client-{i}"
            await gateway.call("GET", "/api/v1/jobs/1", key=key)
            arm = store.seen[-1].instance
            if round_ == 0:
                first[key] = arm
            else:
                assert first[key] == arm
    assert set(first.values()) == {"stable", "canary"}


async def test_forced_arm_needs_the_admin_token(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway({"stable": 1, "canary": 0})
    await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Shimgw-Upstream": "canary"})
    assert store.seen[-1].instance == "stable"
    await gateway.call(
        "GET",
        "/api/v1/jobs/1",
        headers={"X-Shimgw-Upstream": "canary", "X-Shimgw-Admin-Token": "guess"},
    )
    assert store.seen[-1].instance == "stable"
    await gateway.call(
        "GET",
        "/api/v1/jobs/1",
        headers={"X-Shimgw-Upstream": "canary", "X-Shimgw-Admin-Token": ADMIN_TOKEN},
    )
    seen = store.seen[-1]
    assert seen.instance == "canary"
    assert seen.header("X-Shimgw-Upstream") is None and seen.header("X-Shimgw-Admin-Token") is None


async def test_groups_and_routes_over_http(make_gateway: GatewayFactory, store: RunStore) -> None:
    fragile = "fragile-partner-key"
    gateway = await make_gateway(
        {"stable": 50, "canary": 50},
        routing={
            "routes": {"createJob": {"stable": 1}},
            "groups": [
                {
                    "name": "internal",
                    "header": "X-Client-Group",
                    "values": ["internal"],
                    "upstream": "canary",
                },
                {
                    "name": "fragile",
                    "upstream": "stable",
                    "key_sha256": [hashlib.sha256(fragile.encode()).hexdigest()],
                },
            ],
        },
    )
    since = len(store.seen)
    for i in range(20):
        await gateway.call(
            "GET", "/api/v1/jobs/1", key=f"k{i}", headers={"X-Client-Group": "internal"}
        )
    assert arms(store, since) == Counter({"canary": 20})
    since = len(store.seen)
    for _ in range(10):
        await gateway.call("GET", "/api/v1/jobs/1", key=fragile)
    assert arms(store, since) == Counter({"stable": 10})
    for i in range(10):
        await gateway.call(
            "POST", "/api/v1/jobs", key=f"k{i}", json={"name": "n", "engine": "spark", "owner": "o"}
        )
        assert store.seen[-1].instance == "stable"


async def burst(gateway: Gateway, n: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    for i in range(n):
        statuses[(await gateway.call("GET", "/api/v1/jobs/1", key=f"burst-{i}")).status] += 1
    return statuses


async def test_rollback_fires_on_canary_5xx_burst(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway({"stable": 50, "canary": 50}, rollback=ROLLBACK)
    store.inject(Fault(instance="canary", operation="getRun", status=500, times=-1))
    await burst(gateway, 80)
    await asyncio.sleep(0.3)  # windows are judged at most every 0.25 s
    await burst(gateway, 1)
    status, body = await admin(gateway, "GET", "/admin/status")
    assert body["effective_weights"] == {"stable": 50, "canary": 0}
    assert body["upstreams"]["canary"]["rolled_back"] is True
    assert body["upstreams"]["canary"]["errors_total"] > 20
    assert body["rollbacks"][0]["upstream"] == "canary"
    assert body["rollbacks"][0]["reason"] == "error_rate"
    since = len(store.seen)
    assert await burst(gateway, 30) == Counter({200: 30})
    assert set(arms(store, since)) == {"stable"}
    _, metrics = await admin(gateway, "GET", "/metrics")
    assert 'shimgw_rollbacks_total{reason="error_rate",upstream="canary"} 1.0' in metrics
    assert 'shimgw_upstream_effective_weight{upstream="canary"} 0.0' in metrics
    # An admin reset (after the canary is fixed) gives it its weight back.
    store.clear_faults()
    assert (await admin(gateway, "POST", "/admin/rollback/reset"))[0] == 401
    status, body = await admin(gateway, "POST", "/admin/rollback/reset", headers=AUTH)
    assert status == 200 and body["effective_weights"] == {"stable": 50, "canary": 50}


async def test_too_few_requests_never_roll_back(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway({"stable": 50, "canary": 50}, rollback=ROLLBACK)
    store.inject(Fault(instance="canary", operation="getRun", status=500, times=-1))
    await burst(gateway, 24)  # about 12 reach the canary: under min_requests (20)
    await asyncio.sleep(0.3)
    await burst(gateway, 1)
    _, body = await admin(gateway, "GET", "/admin/status")
    assert body["effective_weights"]["canary"] == 50
    assert body["rollbacks"] == []


async def test_config_change_clears_a_rollback(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway({"stable": 50, "canary": 50}, rollback=ROLLBACK)
    runtime = gateway.service.runtime
    store.inject(Fault(instance="canary", operation="getRun", status=503, times=-1))
    await burst(gateway, 80)
    await asyncio.sleep(0.3)
    await burst(gateway, 1)
    assert runtime.effective_weights()["canary"] == 0
    store.clear_faults()
    config = dict(runtime.current.config.raw)
    config["upstreams"] = {
        **config["upstreams"],
        "canary": {"url": gateway.upstream_urls["canary"], "weight": 10},
    }
    gateway.write_config(config)
    assert await runtime.reload("test")
    assert runtime.effective_weights() == {"stable": 50, "canary": 10}


async def test_failed_health_probes_roll_back(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 50, "canary": 50},
        rollback={**ROLLBACK, "health_failures": 2, "health_interval_s": 0.1},
    )
    store.instance_health["canary"] = Health("NOT_SERVING", {})
    for _ in range(40):
        await asyncio.sleep(0.1)
        if gateway.service.runtime.rollback.disabled:
            break
    _, body = await admin(gateway, "GET", "/admin/status")
    assert body["effective_weights"]["canary"] == 0
    assert body["rollbacks"][0]["reason"] == "health"
