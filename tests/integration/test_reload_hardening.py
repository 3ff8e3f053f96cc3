"""Reloads that must neither hang nor leave a stale error: FIFOs, oversize files, reverts."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
from pathlib import Path
from typing import Any

from gwsupport import ADMIN_TOKEN, REPO, Gateway

from shimgw.files import MAX_FILE_BYTES

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def admin(gateway: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with gateway.session.request(method, f"{gateway.admin_url}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


def raw_config(gateway: Gateway) -> dict[str, Any]:
    return copy.deepcopy(dict(gateway.service.runtime.current.config.raw))


async def test_last_error_clears_when_the_good_file_is_restored(gateway: Gateway) -> None:
    good = gateway.config_path.read_bytes()
    version = gateway.service.runtime.current.version
    gateway.config_path.write_text("upstreams: {stable: [typo")
    status, _ = await admin(gateway, "POST", "/admin/reload", headers=AUTH)
    assert status == 422
    assert (await admin(gateway, "GET", "/admin/config"))[1]["last_error"]
    gateway.config_path.write_bytes(good)  # the revert: the very version in force
    status, body = await admin(gateway, "POST", "/admin/reload", headers=AUTH)
    assert status == 200 and body["reloaded"] is True
    _, described = await admin(gateway, "GET", "/admin/config")
    assert described["version"] == version and described["last_error"] is None


async def test_fifo_translation_is_refused_without_hanging(
    gateway: Gateway, tmp_path: Path
) -> None:
    folder = tmp_path / "translations"
    shutil.copytree(REPO / "translations", folder)
    (folder / "getJob.yaml").unlink()
    os.mkfifo(folder / "getJob.yaml")
    config = raw_config(gateway)
    config["translations"] = str(folder)
    gateway.write_config(config)
    status, body = await asyncio.wait_for(
        admin(gateway, "POST", "/admin/reload", headers=AUTH), timeout=10
    )
    assert status == 422 and body["reloaded"] is False
    error = gateway.service.runtime.last_error or ""
    assert "getJob.yaml" in error and "not a regular file" in error and "\n" not in error
    assert (await gateway.call("GET", "/api/v1/jobs/1")).status == 200


async def test_fifo_or_oversize_contract_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    fifo = tmp_path / "phase2.yaml"
    os.mkfifo(fifo)
    config = raw_config(gateway)
    config["contracts"] = {"phase2": str(fifo)}
    gateway.write_config(config)
    assert not await asyncio.wait_for(gateway.service.runtime.reload("test"), timeout=10)
    assert "not a regular file" in (gateway.service.runtime.last_error or "")
    huge = tmp_path / "big.yaml"
    with huge.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    config["contracts"] = {"phase2": str(huge)}
    gateway.write_config(config)
    assert not await gateway.service.runtime.reload("test")
    assert "larger than" in (gateway.service.runtime.last_error or "")
