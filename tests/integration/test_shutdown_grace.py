"""`shutdown.grace_s` bounds the wait for in-flight requests, and what it cuts is answered.

aiohttp waits the grace for a request, then fails only its body stream and waits the
grace again for a handler that is awaiting the orchestrator and does not notice: a stop
took twice `grace_s`, and the request was left to its own deadline or to SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
import pytest
from gwsupport import GatewayFactory

from shimgw.reference import Fault, RunStore


async def test_requests_past_grace_s_are_answered_503_and_the_stop_takes_grace_s(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway(shutdown={"grace_s": 1}, timeouts={"connect": 1, "total": 20})
    store.inject(Fault(operation="getRun", delay=5))
    store.inject(Fault(operation="getHealth", delay=5))
    job = asyncio.create_task(gateway.call("GET", "/api/v1/jobs/1"))
    status = asyncio.create_task(gateway.call("GET", "/api/v1/status", key=None))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await gateway.service.stop()
    took = time.monotonic() - started
    answer, health = await asyncio.wait_for(asyncio.gather(job, status), 5)
    assert 1.0 <= took < 1.8, took  # the grace, not twice it
    # Each operation's own 503: the error body with Retry-After, getStatus its own shape.
    assert answer.status == 503 and answer.header("Retry-After") == "1", answer.body
    assert answer.json["code"] == 503 and "shutting down" in answer.json["error"]
    assert answer.header("Connection") == "close"
    assert (health.status, health.json) == (503, {"status": "degraded"})


async def test_requests_done_within_grace_s_are_answered_as_usual(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway(shutdown={"grace_s": 3}, timeouts={"connect": 1, "total": 20})
    store.inject(Fault(operation="getRun", delay=0.8))
    job = asyncio.create_task(gateway.call("GET", "/api/v1/jobs/1"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await gateway.service.stop()
    assert time.monotonic() - started < 2.5  # ended when the request did
    assert (await job).status == 200


async def test_a_request_cut_at_shutdown_is_not_logged_as_the_upstreams_failure(
    make_gateway: GatewayFactory, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    # The stop is the gateway's own: each operation's 503 shape is kept, but neither the
    # log nor the error counter may blame the orchestrator that was still working on it
    # (a deploy would read as an upstream incident).
    gateway = await make_gateway(shutdown={"grace_s": 1}, timeouts={"connect": 1, "total": 20})
    store.inject(Fault(operation="getRun", delay=5))
    store.inject(Fault(operation="getHealth", delay=5))
    job = asyncio.create_task(gateway.call("GET", "/api/v1/jobs/1"))
    status = asyncio.create_task(gateway.call("GET", "/api/v1/status", key=None))
    await asyncio.sleep(0.3)
    with caplog.at_level(logging.INFO, logger="shimgw"):
        await gateway.service.stop()
        answers = await asyncio.wait_for(asyncio.gather(job, status), 5)
    assert [a.status for a in answers] == [503, 503]
    blamed = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert blamed == []
    registry = gateway.service.runtime.metrics.registry
    for kind in ("busy", "timeout", "unreachable", "5xx"):
        labels = {"upstream": "stable", "kind": kind}
        assert not registry.get_sample_value("shimgw_upstream_errors_total", labels), kind


async def test_a_body_still_arriving_gets_the_grace_to_finish(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    # A request half-way through sending its body is in flight as much as one awaiting
    # the orchestrator. aiohttp stops reading every connection when the stop begins, so
    # the rest of the body was dropped and the request, unable to finish, was cut with a
    # 503 when the grace ran out, the stop having waited the whole grace for nothing.
    gateway = await make_gateway(shutdown={"grace_s": 3}, timeouts={"connect": 1, "total": 20})
    body = orjson.dumps({"name": "n", "engine": "spark", "owner": "ana"})
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
    try:
        writer.write(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10]
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        started = time.monotonic()
        stop = asyncio.create_task(gateway.service.stop())
        await asyncio.sleep(0.3)
        writer.write(body[10:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        await stop
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 201 "), answer
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - started < 2.0  # ended when the request did
    assert [s.operation for s in store.seen].count("createRun") == 1
