"""The fast /v2 transport against a raw asyncio server that answers exactly what a test says."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest

from shimgw.errors import UntranslatableRequest, UpstreamTimeout, UpstreamUnavailable
from shimgw.messages import V2Request
from shimgw.transport import FastUpstream
from shimgw.upstream import Limits

GET = V2Request(
    operation="getRun",
    method="GET",
    path="/v2/runs/run-1",
    path_params={"runId": "run-1"},
    query={},
    headers={},
)
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Answer = Callable[[bytes, int], bytes | None]  # (request head, index on connection) → reply


class Server:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        index = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                reply = self.answer(head, index)
                index += 1
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], asyncio.Future[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Server:
        server = Server(answer)
        s = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = s.sockets[0].getsockname()[1]
        servers.append(s)
        return server

    yield start  # type: ignore[misc]
    for s in servers:
        s.close()


def limits(**kwargs: float) -> Limits:
    return Limits(
        connect_timeout=float(kwargs.get("connect", 1)),
        total_timeout=float(kwargs.get("total", 2)),
        max_body_bytes=int(kwargs.get("limit", 1 << 20)),
        max_connections=int(kwargs.get("connections", 128)),
        max_queue=int(kwargs.get("queue", 128)),
    )


def upstream(port: int, **kwargs: float) -> FastUpstream:
    return FastUpstream("t", f"http://127.0.0.1:{port}", limits(**kwargs))


async def test_keep_alive_reuses_one_connection(serve) -> None:  # type: ignore[no-untyped-def]
    server = await serve(lambda head, i: OK)
    up = upstream(server.port)
    for _ in range(3):
        answer = await up.send(GET, {"Authorization": "Bearer k"})
        assert (answer.status, answer.content_type, answer.body) == (200, "application/json", b"{}")
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /v2/runs/run-1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAuthorization: Bearer k\r\n" in server.requests[0]
    await up.close()


async def test_query_and_body_encoding(serve) -> None:  # type: ignore[no-untyped-def]
    server = await serve(lambda head, i: OK)
    up = upstream(server.port)
    call = V2Request(
        operation="listRuns",
        method="GET",
        path="/v2/runs",
        path_params={},
        query={"state": ["PENDING", "SCHEDULED"], "label": ["owner=a b+c/ü"], "pageSize": 20},
        headers={},
    )
    await up.send(call, {})
    assert server.requests[0].split(b"\r\n")[0] == (
        b"GET /v2/runs?state=PENDING&state=SCHEDULED&label=owner%3Da%20b%2Bc%2F%C3%BC"
        b"&pageSize=20 HTTP/1.1"
    )
    post = V2Request(
        operation="createRun",
        method="POST",
        path="/v2/runs",
        path_params={},
        query={},
        headers={"Content-Type": "application/json"},
        body={"a": 1},
        content_type="application/json",
    )
    await up.send(post, post.headers)
    assert server.requests[1].endswith(b'Content-Length: 7\r\n\r\n{"a":1}')
    await up.close()


async def test_header_injection_is_refused() -> None:
    up = upstream(1)
    with pytest.raises(UntranslatableRequest):
        await up.send(GET, {"Authorization": "Bearer k\r\nX-Evil: 1"})


async def test_chunked_and_gzip_answers(serve) -> None:  # type: ignore[no-untyped-def]
    packed = gzip.compress(b'{"x": 1}')
    replies = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n3\r\n{"x\r\n5\r\n": 1}\r\n0\r\n\r\n',
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: " + str(len(packed)).encode() + b"\r\n\r\n" + packed,
    ]
    server = await serve(lambda head, i: replies[i])
    up = upstream(server.port)
    first, second = await up.send(GET, {}), await up.send(GET, {})
    assert first.body == second.body == b'{"x": 1}'
    assert first.content_type == "application/json"
    await up.close()


async def test_idle_connection_closed_by_server_is_retried_for_get(serve) -> None:  # type: ignore[no-untyped-def]
    # The server answers once per connection, then closes when the next request comes.
    server = await serve(lambda head, i: OK if i == 0 else None)
    up = upstream(server.port)
    assert (await up.send(GET, {})).status == 200
    assert (await up.send(GET, {})).status == 200
    assert server.connections == 2
    post = V2Request(
        operation="cancelRun",
        method="POST",
        path="/v2/runs/run-1:cancel",
        path_params={},
        query={},
        headers={},
    )
    with pytest.raises(UpstreamUnavailable, match="closed the connection"):
        await up.send(post, {})
    await up.close()


async def test_garbage_over_limit_and_timeout(serve) -> None:  # type: ignore[no-untyped-def]
    garbage = await serve(lambda head, i: b"SMTP ready\r\n\r\n")
    with pytest.raises(UpstreamUnavailable, match="unreadable"):
        await upstream(garbage.port).send(GET, {})
    big = await serve(
        lambda head, i: b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    )
    with pytest.raises(UpstreamUnavailable, match="over the limit"):
        await upstream(big.port, limit=1024).send(GET, {})
    silent = await serve(lambda head, i: b"")
    with pytest.raises(UpstreamTimeout):
        await upstream(silent.port, total=0.3).send(GET, {})


async def test_connection_close_is_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    server = await serve(lambda head, i: reply)
    up = upstream(server.port)
    await up.send(GET, {})
    await up.send(GET, {})
    assert server.connections == 2
    await up.close()


def test_https_needs_the_aiohttp_transport() -> None:
    with pytest.raises(ValueError, match="aiohttp"):
        FastUpstream("t", "https://x", limits(limit=1024))


async def test_interim_answers_are_skipped_and_never_desync(serve) -> None:  # type: ignore[no-untyped-def]
    replies = [
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
        b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"n":2}',
    ]
    server = await serve(lambda head, i: replies[i])
    up = upstream(server.port)
    first = await up.send(GET, {})
    second = await up.send(GET, {})
    assert (first.status, first.body, second.body) == (200, b"{}", b'{"n":2}')
    await up.close()


async def test_close_delimited_answer() -> None:
    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"a":1}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    up = upstream(server.sockets[0].getsockname()[1])
    answer = await up.send(GET, {})
    assert (answer.status, answer.body) == (200, b'{"a":1}')
    await up.close()
    server.close()


async def test_unasked_bytes_retire_the_connection(serve) -> None:  # type: ignore[no-untyped-def]
    # The first answer is followed by a stray second one: that connection must not be reused.
    server = await serve(lambda head, i: OK + OK)
    up = upstream(server.port)
    await up.send(GET, {})
    await asyncio.sleep(0.05)
    answer = await up.send(GET, {})
    assert answer.body == b"{}"
    assert server.connections == 2
    await up.close()


async def test_retired_pool_serves_stragglers_without_pooling(serve) -> None:  # type: ignore[no-untyped-def]
    server = await serve(lambda head, i: OK)
    up = upstream(server.port)
    await up.close()
    assert (await up.send(GET, {})).status == 200
    assert up._idle == [] and up._all == set()


async def test_connections_closed_while_idle_leave_the_pool(serve) -> None:  # type: ignore[no-untyped-def]
    server = await serve(lambda head, i: OK if i == 0 else None)  # closes on the next request
    up = upstream(server.port)
    for _ in range(20):
        assert (await up.send(GET, {})).status == 200
    assert len(up._all) <= 1
    await up.close()
