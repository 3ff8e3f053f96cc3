"""The Phase 1 listener on aiohttp's low-level server: what the Application used to do for us."""

from __future__ import annotations

import asyncio

import orjson
from gwsupport import Gateway


async def _open(gateway: Gateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", gateway.service.port)


async def test_expect_100_continue_gets_continue_before_the_body(gateway: Gateway) -> None:
    body = orjson.dumps({"name": "expect", "engine": "spark", "owner": "ana"})
    reader, writer = await _open(gateway)
    try:
        writer.write(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        # A client that waits for 100 Continue before sending its body (as curl does).
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 201 ")
    finally:
        writer.close()


async def test_asterisk_and_undecodable_targets_get_the_phase1_body(gateway: Gateway) -> None:
    reader, writer = await _open(gateway)
    try:
        writer.write(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = orjson.loads(await reader.readexactly(length))
        assert head.split(b" ")[1] in (b"404", b"405")
        assert body["code"] == int(head.split(b" ")[1]) and body["request_id"]
        assert b"x-request-id: " + body["request_id"].encode() in head.lower()
    finally:
        writer.close()
