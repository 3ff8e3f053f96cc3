"""The edge's own request loop (`EdgeProtocol.start`, a copy of aiohttp's with the handler
run inline): pinned to the aiohttp it copies, and driven over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import aiohttp
from aiohttp.web_protocol import RequestHandler
from gwsupport import Gateway

# aiohttp 3.14.5's RequestHandler.start. When an aiohttp release changes it, this fails:
# compare the new loop with EdgeProtocol.start, carry the change over, then update these.
PINNED_VERSION = "3.14.5"
PINNED_START = "2e565fd40c8e04fb3afb481d5ba52691a61d28396573b4b8a4cf3b168782288e"


def test_the_copied_loop_matches_the_aiohttp_it_was_copied_from() -> None:
    source = inspect.getsource(RequestHandler.start)
    assert (aiohttp.__version__, hashlib.sha256(source.encode()).hexdigest()) == (
        PINNED_VERSION,
        PINNED_START,
    )


async def _answers(reader: asyncio.StreamReader, count: int) -> list[tuple[bytes, bytes]]:
    """(status line, head) of `count` answers read from one connection."""
    out = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        out.append((head.split(b"\r\n")[0], head))
    return out


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
    gateway: Gateway,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
    try:
        writer.write(
            b"".join(
                f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
                f"X-Request-ID: r-{i}\r\n\r\n".encode()
                for i, path in enumerate(["/api/v1/jobs/1", "/api/v1/nope", "/api/v1/status"])
            )
        )
        answers = await _answers(reader, 3)
        assert [line.split(b" ")[1] for line, _ in answers] == [b"200", b"404", b"200"]
        assert all(b"x-request-id: r-%d" % i in h.lower() for i, (_, h) in enumerate(answers))
        assert all(b"connection: close" not in head.lower() for _, head in answers)
    finally:
        writer.close()


async def test_connection_close_and_http10_end_the_connection_after_the_answer(
    gateway: Gateway,
) -> None:
    for request in (
        b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/status HTTP/1.0\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
        try:
            writer.write(request)
            ((line, _),) = await _answers(reader, 1)
            assert line.endswith(b"200 OK")
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the gateway
        finally:
            writer.close()


async def test_an_unread_body_is_drained_and_the_connection_kept(gateway: Gateway) -> None:
    # getJob reads no body: the loop drains it (lingering) before the next request.
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.service.port)
    try:
        writer.write(
            b"GET /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
            b"Content-Length: 5\r\n\r\nhello"
            b"GET /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n\r\n"
        )
        answers = await _answers(reader, 2)
        assert [line.split(b" ")[1] for line, _ in answers] == [b"200", b"200"]
    finally:
        writer.close()
