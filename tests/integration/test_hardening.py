"""Issue 9 over loopback: back-pressure, bodies that inflate, and credentials in URLs."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import orjson
import pytest
from gwsupport import Gateway, GatewayFactory

from shimgw.reference import Fault, RunStore


async def reconfigure(gateway: Gateway, **changes: Any) -> None:
    config = {**gateway.service.runtime.current.config.raw, **changes}
    gateway.write_config(config)
    assert await gateway.service.runtime.reload("test"), gateway.service.runtime.last_error


JOB = {"name": "n", "engine": "spark", "owner": "o", "priority": "high"}


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_busy_upstream_is_503_with_retry_after_at_once(
    make_gateway: GatewayFactory, store: RunStore, reference: dict[str, str], transport: str
) -> None:
    gateway = await make_gateway(upstream_transport=transport)
    await reconfigure(
        gateway,
        upstreams={"stable": {"url": reference["stable"], "max_connections": 1, "max_queue": 0}},
    )
    store.inject(Fault(operation="getRun", delay=0.5))
    slow = asyncio.create_task(gateway.call("GET", "/api/v1/jobs/1"))
    await asyncio.sleep(0.1)
    busy = await gateway.call("GET", "/api/v1/jobs/2")
    assert busy.status == 503
    assert busy.header("Retry-After") == "1"
    assert busy.json["code"] == 503 and busy.json["request_id"] == busy.header("X-Request-ID")
    # getStatus promises 503 with its own body: the busy answer keeps to it.
    status = await gateway.call("GET", "/api/v1/status", key=None)
    assert (status.status, status.json) == (503, {"status": "degraded"})
    assert (await slow).status == 200
    assert (await gateway.call("GET", "/api/v1/jobs/2")).status == 200


async def test_gzip_request_body_is_capped_on_its_decoded_size(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway(limits={"max_body_bytes": 4096})
    before = len(store.seen)
    big = orjson.dumps({**JOB, "params": {"x": "y" * 100_000}})
    packed = gzip.compress(big)
    assert len(packed) < 4096
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    answer = await gateway.call("POST", "/api/v1/jobs", data=packed, headers=headers)
    assert answer.status == 400 and "limit" in answer.json["error"]
    assert len(store.seen) == before
    # A small gzip body within the cap is read and served.
    small = await gateway.call(
        "POST", "/api/v1/jobs", data=gzip.compress(orjson.dumps(JOB)), headers=headers
    )
    assert small.status == 201, small.body


async def test_expect_100_continue_over_the_limit_gets_the_refusal_not_continue(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    # A client that asks first (curl does, past 1 KiB) must not be told to send a body the
    # gateway will refuse by its declared length: the refusal comes instead of 100 Continue,
    # and the connection closes, since the body it announced never comes.
    gateway = await make_gateway(limits={"max_body_bytes": 4096})
    before = len(store.seen)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
    try:
        writer.write(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert head.startswith(b"HTTP/1.1 400 "), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = orjson.loads(await reader.readexactly(length))
        assert "1000000000 bytes is over the limit of 4096" in body["error"]
        # Closed at once: nothing is left to drain (aiohttp would linger 2 s for a body).
        assert await asyncio.wait_for(reader.read(), 1) == b""
    finally:
        writer.close()
    assert len(store.seen) == before


async def test_expect_100_continue_refusal_reaches_a_client_that_sends_the_body_anyway(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    # A client need not wait for 100 Continue (RFC 9110 §10.1.1; Python's http.client never
    # does): its body is on the wire when the refusal is written. Closing with those bytes
    # unread makes the kernel send a reset, and the client, still sending, lost the 400 to
    # a broken pipe; the connection must close the way RFC 9112 §9.6 says (our side first,
    # what still comes read and dropped).
    gateway = await make_gateway(limits={"max_body_bytes": 4096})
    body = b"x" * 8_000_000
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
        try:
            writer.write(head + body)
            await asyncio.wait_for(writer.drain(), 5)  # the whole body, as http.client sends it
            answer = await asyncio.wait_for(reader.read(), 5)
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert b"8000000 bytes is over the limit of 4096" in answer
    assert not [s for s in store.seen if s.operation != "getHealth"]


async def test_a_gzip_body_behind_an_identity_header_is_still_capped_decoded(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    # aiohttp decodes by the LAST Content-Encoding line; the cap looked at the first one.
    # `identity` then `gzip` made the body count as its compressed length (under the cap)
    # while aiohttp handed over the decoded one: 300 bytes on the wire, 100 KB read.
    gateway = await make_gateway(limits={"max_body_bytes": 4096})
    before = len(store.seen)
    packed = gzip.compress(orjson.dumps({**JOB, "params": {"x": "y" * 100_000}}))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
    writer.write(
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
        b"Content-Type: application/json\r\nContent-Encoding: identity\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = orjson.loads(await reader.readexactly(length))
    writer.close()
    assert head.startswith(b"HTTP/1.1 400 ") and "limit" in body["error"], body
    assert len(store.seen) == before
