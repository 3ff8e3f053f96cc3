"""Reloads (file change, symlink swap, admin) without dropping a request; bad configs refused."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from gwsupport import ADMIN_TOKEN, REPO, Gateway, GatewayFactory

from shimgw.reference import Fault, RunStore

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def admin(gateway: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with gateway.session.request(method, f"{gateway.admin_url}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


def raw_config(gateway: Gateway) -> dict[str, Any]:
    return copy.deepcopy(dict(gateway.service.runtime.current.config.raw))


async def wait_for_version(gateway: Gateway, old: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = gateway.service.runtime.current.version
        if version != old:
            return version
        await asyncio.sleep(0.1)
    raise AssertionError("the change was not picked up in time")


async def test_admin_reload_changes_weights_and_keeps_pools(gateway: Gateway) -> None:
    runtime = gateway.service.runtime
    old_version, old_pool = runtime.current.version, runtime.current.upstreams["stable"]
    config = raw_config(gateway)
    config["upstreams"]["canary"] = {"url": gateway.upstream_urls["canary"], "weight": 1}
    gateway.write_config(config)
    status, body = await admin(gateway, "POST", "/admin/reload", headers=AUTH)
    assert (status, body["reloaded"]) == (200, True)
    assert runtime.current.version != old_version
    assert runtime.current.upstreams["stable"] is old_pool
    _, described = await admin(gateway, "GET", "/admin/config")
    assert described["version"] == runtime.current.version and described["last_error"] is None
    assert described["upstreams"]["canary"]["weight"] == 1


async def test_admin_reload_needs_the_token(gateway: Gateway) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Shimgw-Admin-Token": "x"}):
        status, _ = await admin(gateway, "POST", "/admin/reload", headers=headers)
        assert status == 401
    status, _ = await admin(
        gateway, "POST", "/admin/reload", headers={"X-Shimgw-Admin-Token": ADMIN_TOKEN}
    )
    assert status == 200


async def test_file_change_is_live_within_seconds(gateway: Gateway) -> None:
    old = gateway.service.runtime.current.version
    config = raw_config(gateway)
    config["upstreams"]["stable"]["weight"] = 7
    gateway.write_config(config)  # atomic rename, as editors and config tools do
    await wait_for_version(gateway, old)
    assert gateway.service.runtime.current.config.upstreams["stable"].weight == 7


async def test_configmap_symlink_swap_is_seen(
    reference: dict[str, str], tmp_path: Path, make_gateway: GatewayFactory
) -> None:
    gateway = await make_gateway()
    config = raw_config(gateway)
    # Kubernetes mounts: shimgw.yaml → ..data/shimgw.yaml, ..data → ..v1 (swapped atomically).
    mount = tmp_path / "mount"
    (mount / "..v1").mkdir(parents=True)
    (mount / "..v1" / "shimgw.yaml").write_text(yaml.safe_dump(config))
    (mount / "..data").symlink_to("..v1")
    (mount / "shimgw.yaml").symlink_to("..data/shimgw.yaml")
    gateway.config_path.unlink()
    gateway.config_path.symlink_to(mount / "shimgw.yaml")
    runtime = gateway.service.runtime
    assert await runtime.reload("test")
    await asyncio.sleep(1.5)  # let the watcher take its fingerprint of the new layout
    old = runtime.current.version
    config["upstreams"]["stable"]["weight"] = 3
    (mount / "..v2").mkdir()
    (mount / "..v2" / "shimgw.yaml").write_text(yaml.safe_dump(config))
    (mount / "..tmp").symlink_to("..v2")
    os.replace(mount / "..tmp", mount / "..data")
    await wait_for_version(gateway, old)
    assert runtime.current.config.upstreams["stable"].weight == 3


def broken_translations(tmp_path: Path) -> Path:
    folder = tmp_path / "translations"
    shutil.copytree(REPO / "translations", folder)
    doc = yaml.safe_load((folder / "getJob.yaml").read_text())
    doc["target"] = "getRunz"
    (folder / "getJob.yaml").write_text(yaml.safe_dump(doc))
    return folder


@pytest.mark.parametrize(
    "kind", ["yaml", "unknown-key", "negative-weight", "translation", "contract"]
)
async def test_bad_config_keeps_the_old_one(gateway: Gateway, tmp_path: Path, kind: str) -> None:
    runtime = gateway.service.runtime
    old = runtime.current.version
    config = raw_config(gateway)
    if kind == "yaml":
        gateway.config_path.write_text("upstreams: {stable: [unclosed")
    else:
        if kind == "unknown-key":
            config["upstreams"]["stable"]["wieght"] = 5
        elif kind == "negative-weight":
            config["upstreams"]["stable"]["weight"] = -1
        elif kind == "translation":
            config["translations"] = str(broken_translations(tmp_path))
        else:
            bad = tmp_path / "phase2.yaml"
            bad.write_text("openapi: 3.1.0\ninfo: {title: x}\npaths: {/v2/x: {get: {}}}\n")
            config["contracts"] = {"phase2": str(bad)}
        gateway.write_config(config)
    status, body = await admin(gateway, "POST", "/admin/reload", headers=AUTH)
    assert status == 422 and body["reloaded"] is False
    assert runtime.current.version == old
    _, described = await admin(gateway, "GET", "/admin/config")
    assert described["version"] == old
    assert described["last_error"]
    expected = {
        "yaml": "not valid YAML",
        "unknown-key": "upstreams.stable.wieght",
        "negative-weight": "upstreams.stable.weight",
        "translation": "getRunz",
        "contract": "contracts.phase2",
    }[kind]
    assert expected in described["last_error"]
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 200


async def test_request_in_flight_finishes_on_its_snapshot(
    gateway: Gateway, store: RunStore
) -> None:
    store.inject(Fault(operation="getRun", delay=0.8))
    in_flight = asyncio.create_task(gateway.call("GET", "/api/v1/jobs/1"))
    await asyncio.sleep(0.2)
    config = raw_config(gateway)
    # The new config sends everything elsewhere and drops the old pool.
    config["upstreams"] = {"canary": {"url": gateway.upstream_urls["canary"], "weight": 1}}
    gateway.write_config(config)
    assert await gateway.service.runtime.reload("test")
    answer = await in_flight
    assert answer.status == 200 and answer.json["job_id"] == 1
    assert [s.instance for s in store.seen if s.operation == "getRun"] == ["stable"]
    await gateway.call("GET", "/api/v1/jobs/1")
    assert store.seen[-1].instance == "canary"


async def test_no_request_lost_during_reloads(gateway: Gateway) -> None:
    config = raw_config(gateway)
    statuses: list[int] = []

    async def load() -> None:
        for i in range(60):
            statuses.append((await gateway.call("GET", f"/api/v1/jobs/{1 + i % 5}")).status)

    async def flip() -> None:
        for weight in (1, 2, 3, 4, 5):
            config["upstreams"]["stable"]["weight"] = weight
            gateway.write_config(config)
            await gateway.service.runtime.reload("test")

    await asyncio.gather(load(), load(), flip())
    assert statuses == [200] * 120


async def test_admin_is_not_on_the_phase1_port(gateway: Gateway) -> None:
    for path in ("/admin/status", "/admin/config", "/metrics", "/healthz"):
        answer = await gateway.call("GET", path)
        assert answer.status == 404
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + "/admin/reload", headers=AUTH) as resp,
    ):
        assert resp.status == 404
