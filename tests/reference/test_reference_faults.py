"""Fault injection: every misbehaviour the gateway's error rows are tested against."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpServer

from shimgw.reference import Fault, RunStore, build_app

AUTH = {"Authorization": "Bearer test-token"}
RAW_GET = (
    b"GET /v2/runs/run-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
    b"Connection: close\r\n\r\n"
)


async def raw_exchange(server: TestServer, request: bytes = RAW_GET) -> bytes:
    """Everything the server writes back until it closes the connection."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=2)
    finally:
        writer.close()


def test_fault_validation() -> None:
    for bad in (
        {},
        {"status": 500, "drop": True},
        {"delay": 1.0, "times": 0},
        {"status": 700},
        {"delay": -1.0},
        {"drop": True, "times": -2},
    ):
        with pytest.raises(ValueError, match="Fault"):
            Fault(**bad)  # type: ignore[arg-type]


async def test_status_fault_with_retry_after(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(operation="getRun", status=429, headers={"Retry-After": "7"}))
    resp = await stable.get("/v2/runs/run-1", headers={**AUTH, "X-Correlation-ID": "c-9"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["X-Correlation-ID"] == "c-9"
    assert resp.content_type == "application/problem+json"
    doc = await resp.json()
    assert doc["status"] == 429
    assert doc["title"] == "Too Many Requests"
    assert doc["detail"]
    # times=1: the next call is answered normally.
    assert (await stable.get("/v2/runs/run-1", headers=AUTH)).status == 200
    assert store.pending_faults == []
    assert [(f.instance, f.operation) for f in store.fired] == [("stable", "getRun")]
    assert store.violations == []


async def test_status_fault_with_raw_body(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(status=502, body=b"<html>bad gateway</html>", content_type="text/html"))
    resp = await stable.get("/v2/plugins", headers=AUTH)
    assert resp.status == 502
    assert resp.content_type == "text/html"
    assert await resp.read() == b"<html>bad gateway</html>"
    # Broken on purpose, so not the reference's violation.
    assert store.violations == []


async def test_times_counts_and_forever(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(status=503, times=2))
    statuses = [(await stable.get("/v2/plugins", headers=AUTH)).status for _ in range(3)]
    assert statuses == [503, 503, 200]

    store.inject(Fault(status=500, times=-1))
    statuses = [(await stable.get("/v2/plugins", headers=AUTH)).status for _ in range(4)]
    assert statuses == [500] * 4
    assert len(store.pending_faults) == 1
    store.clear_faults()
    assert (await stable.get("/v2/plugins", headers=AUTH)).status == 200


async def test_instance_and_operation_filters(
    stable: TestClient, canary: TestClient, store: RunStore
) -> None:
    store.inject(Fault(instance="canary", operation="listRuns", status=503, times=-1))
    assert (await stable.get("/v2/runs", headers=AUTH)).status == 200
    assert (await canary.get("/v2/plugins", headers=AUTH)).status == 200
    assert (await canary.get("/v2/runs", headers=AUTH)).status == 503
    assert [f.instance for f in store.fired] == ["canary"]


async def test_faults_come_after_auth_and_contract(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(status=503))
    assert (await stable.get("/v2/runs/run-1")).status == 401
    bad = await stable.get("/v2/runs?pageSize=0", headers=AUTH)
    assert bad.status == 400
    assert len(store.violations) == 1
    assert len(store.pending_faults) == 1
    assert (await stable.get("/v2/runs", headers=AUTH)).status == 503


async def test_delay_then_normal_answer(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(delay=0.3, operation="getRun"))
    started = time.monotonic()
    resp = await stable.get("/v2/runs/run-1", headers=AUTH)
    assert time.monotonic() - started >= 0.3
    assert resp.status == 200
    assert (await resp.json())["id"] == "run-1"

    store.inject(Fault(delay=2.0))
    with pytest.raises(asyncio.TimeoutError):
        await stable.get("/v2/health", timeout=aiohttp.ClientTimeout(total=0.1))
    assert store.violations == []


async def test_garbage_is_written_raw(aiohttp_server: AiohttpServer, store: RunStore) -> None:
    server = await aiohttp_server(build_app(store, "stable"))
    store.inject(Fault(garbage=b"NOT HTTP AT ALL\r\n\r\n"))
    assert await raw_exchange(server) == b"NOT HTTP AT ALL\r\n\r\n"
    assert store.violations == []


async def test_garbage_breaks_an_http_client(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(garbage=b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"tru'))

    async def read_run() -> bytes:
        resp = await stable.get("/v2/runs/run-1", headers=AUTH)
        return await resp.read()

    # The body is promised 50 bytes and cut off after 5.
    with pytest.raises(aiohttp.ClientPayloadError):
        await read_run()
    # The instance keeps serving new connections.
    assert (await stable.get("/v2/runs/run-1", headers=AUTH)).status == 200


async def test_drop_closes_without_a_byte(aiohttp_server: AiohttpServer, store: RunStore) -> None:
    server = await aiohttp_server(build_app(store, "stable"))
    store.inject(Fault(drop=True))
    assert await raw_exchange(server) == b""
    assert b"HTTP/1.1 200" in await raw_exchange(server)


async def test_drop_is_a_disconnect_for_clients(stable: TestClient, store: RunStore) -> None:
    store.inject(Fault(drop=True, operation="createRun"))
    body = {"displayName": "x", "plugin": {"id": "shell"}, "labels": {"owner": "o"}}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await stable.post("/v2/runs", json=body, headers=AUTH)
    # The request was seen and validated, but the fault replaced the handler.
    assert store.seen[-1].operation == "createRun"
    assert len(store.runs) == 6


def test_the_request_log_keeps_the_newest_requests_only() -> None:
    # `make demo` runs for as long as someone curls it: its window onto the wire is bounded.
    from shimgw.reference.store import SEEN_KEEP, RunStore, SeenRequest, record_seen

    store = RunStore()
    for n in range(SEEN_KEEP * 3):
        seen = SeenRequest(
            instance="stable",
            operation="getRun",
            method="GET",
            path=f"/v2/runs/run-{n}",
            query_string="",
            headers={},
            body=b"",
        )
        record_seen(store.seen, seen)
    assert SEEN_KEEP <= len(store.seen) <= 2 * SEEN_KEEP
    assert store.seen[-1].path == f"/v2/runs/run-{SEEN_KEEP * 3 - 1}"
    paths = [seen.path for seen in store.seen]
    assert paths == sorted(paths, key=lambda p: int(p.rsplit("-", 1)[1]))  # in order, newest last
