"""URL credentials an orchestrator's answer carries never reach a log line.

A /v2 answer that breaks its contract is named in the log by the validator's message,
which quotes the offending value: `body.priority: "https://user:pw@host/" is not of type
"integer"` went to stderr as it was. Every line the gateway writes has URL userinfo (and
bearer tokens, secret-named query parameters) cut out, as shadow samples already do.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

RUN = {
    "id": "run-1",
    "displayName": "a",
    "plugin": {"id": "spark", "version": "3.5.1"},
    "state": "PENDING",
    "priority": "https://puser:prio2pw@example.com/?token=tok3n",
    "labels": {"owner": "a"},
    "tags": [],
    "parameters": {},
    "createTime": "2026-11-28T18:27:41.059Z",
    "updateTime": "2026-11-28T18:27:41.059Z",
    "etag": "run-1.1",
}


async def _orchestrator() -> TestServer:
    async def run(_: web.Request) -> web.Response:
        return web.json_response(RUN)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/v2/runs/{id}", run)
    app.router.add_get("/v2/health", health)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_violation_quoting_a_url_logs_it_without_credentials(tmp_path: Path) -> None:
    upstream = await _orchestrator()
    config = tmp_path / "c.yaml"
    config.write_text(
        f"upstreams: {{s: {{url: 'http://127.0.0.1:{upstream.port}'}}}}\n"
        "listen: {port: 0}\nadmin: {port: off}\nshutdown: {drain_s: 0, grace_s: 1}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shimgw",
        "serve",
        "--config",
        str(config),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        port = orjson.loads(line)["port"]
        async with (
            ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}/api/v1/jobs/1", headers={"X-Api-Key": "k"}
            ) as resp,
        ):
            assert resp.status == 502
    finally:
        proc.terminate()
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
        await proc.wait()
        await upstream.close()
    logged = [orjson.loads(x) for x in rest.splitlines()]
    failure = next(e for e in logged if e["msg"] == "upstream failure")
    assert "https://" in failure["error"] and "example.com" in failure["error"]
    assert "prio2pw" not in rest.decode() and "puser" not in rest.decode()
    assert "tok3n" not in rest.decode()
