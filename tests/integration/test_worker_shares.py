"""Worker 0's admin answers add up the other workers' books (shares.py), over loopback."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
import yaml
from gwsupport import base_config

from shimgw import jsoncodec
from shimgw.runtime import Runtime
from shimgw.service import Service
from shimgw.shadow.book import DiffBook
from shimgw.shadow.compare import Result
from shimgw.shares import DIFFS, USAGE, ShareDir
from shimgw.usage import UNNAMED, UsageShare


async def test_admin_adds_other_workers_books_and_a_stopping_worker_shares_its_last(
    reference: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIMGW_TEST_ADMIN_TOKEN", "t" * 32)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(base_config({"stable": (reference["stable"], 1)})))
    shares = tmp_path / "shares"
    shares.mkdir()
    service = Service(Runtime.from_file(path), shares=ShareDir(shares))
    await service.start()
    try:
        version = service.gateway.shadow.version
        current, stale = DiffBook(), DiffBook()
        current.count("getJob", Result.MATCH)
        for _ in range(5):  # a book from before a reload: its diffs are not this config's
            stale.count("getJob", Result.MATCH)
        ShareDir(shares, pid=1).publish(DIFFS, current.share(version, {}).to_json())
        ShareDir(shares, pid=2).publish(DIFFS, stale.share(f"{version}-old", {}).to_json())
        other = {"since": 0, "cells": [[UNNAMED, "getJob", 3, 1.0, 2.0]]}
        ShareDir(shares, pid=1).publish(USAGE, other)
        admin, edge = f"http://127.0.0.1:{service.admin_port}", f"http://127.0.0.1:{service.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{edge}/api/v1/jobs/1", headers={"X-Api-Key": "k"}) as r:
                assert r.status == 200
            async with session.get(f"{admin}/admin/diffs") as r:
                diffs = await r.json()
            async with session.get(f"{admin}/admin/usage") as r:
                usage = await r.json()
        assert diffs["operations"]["getJob"]["counts"]["match"] == 1
        assert diffs["processes"] == 2  # this one and pid 1; pid 2 spoke for another version
        assert usage["clients"][UNNAMED]["operations"]["getJob"]["count"] == 4
        assert usage["processes"] == 2
    finally:
        await service.stop()
    # Stopped: what it counted is on disk for the worker that answers admin calls.
    mine = shares / f"{USAGE}-{os.getpid()}.json"
    share = UsageShare.from_json(jsoncodec.loads(mine.read_bytes()))
    assert [(t.operation, t.count) for t in share.cells] == [("getJob", 1)]
