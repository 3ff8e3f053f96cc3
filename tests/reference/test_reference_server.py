"""Real sockets: start_reference and the `python -m shimgw.reference` entry point."""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from shimgw.reference import RunStore, seed_demo, start_reference, stop_reference


async def test_two_instances_share_one_store() -> None:
    store = seed_demo(RunStore())
    instances = await start_reference(store, [("stable", 0), ("canary", 0)])
    try:
        assert [i.name for i in instances] == ["stable", "canary"]
        assert all(i.port > 0 for i in instances)
        assert instances[0].port != instances[1].port
        stable, canary = (i.url for i in instances)
        auth = {"Authorization": "Bearer t"}
        body = {"displayName": "x", "plugin": {"id": "flink"}, "labels": {"owner": "o"}}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{stable}/v2/runs", json=body, headers=auth) as resp:
                assert resp.status == 202
                location = resp.headers["Location"]
            async with session.get(f"{canary}{location}", headers=auth) as resp:
                assert resp.status == 200
        assert [s.instance for s in store.seen] == ["stable", "canary"]
        assert store.violations == []
    finally:
        await stop_reference(instances)


async def test_module_entry_point_serves_until_terminated() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shimgw.reference",
        "--port",
        "0",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        lines = [await asyncio.wait_for(proc.stdout.readline(), 10) for _ in range(2)]
        names_urls = [line.decode().split() for line in lines]
        assert [name for name, _ in names_urls] == ["stable:", "canary:"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{names_urls[1][1]}/runs/run-1", headers={"Authorization": "Bearer t"}
            ) as resp,
        ):
            assert resp.status == 200
            assert (await resp.json())["state"] == "SUCCEEDED"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
