"""Both /v2 transports against hostile answers: bombs, multi-member gzip, upgrades,
huge heads, and more concurrent calls than the upstream's cap."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import logging
import zlib
from collections.abc import AsyncIterator, Callable

import pytest
from test_transport import GET, Server, limits

from shimgw.errors import UpstreamBusy, UpstreamUnavailable
from shimgw.messages import V2Request
from shimgw.transport import ConnectionState, FastUpstream, _Connection
from shimgw.upstream import HttpUpstream, Limits

Upstream = FastUpstream | HttpUpstream
Make = Callable[..., Upstream]


@pytest.fixture(params=["fast", "aiohttp"])
def make(request: pytest.FixtureRequest) -> Make:
    kind = FastUpstream if request.param == "fast" else HttpUpstream

    def build(port: int, **kwargs: float) -> Upstream:
        return kind("t", f"http://127.0.0.1:{port}", limits(**kwargs))

    return build


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Callable[[bytes, int], bytes | None]) -> Server:
        server = Server(answer)
        s = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = s.sockets[0].getsockname()[1]
        servers.append(s)
        return server

    yield start  # type: ignore[misc]
    for s in servers:
        s.close()


def gzip_answer(packed: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: " + str(len(packed)).encode() + b"\r\n\r\n" + packed
    )


async def test_gzip_bomb_is_capped_on_the_decoded_size(serve, make) -> None:  # type: ignore[no-untyped-def]
    bomb = gzip.compress(b"\0" * (64 << 20), 9)  # 64 KiB that inflate to 64 MiB
    server = await serve(lambda head, i: gzip_answer(bomb))
    up = make(server.port, limit=1 << 20)
    with pytest.raises(UpstreamUnavailable, match="over the limit"):
        await up.send(GET, {})
    await up.close()


async def test_gzip_decoding_leaves_the_loop_free(serve, make) -> None:  # type: ignore[no-untyped-def]
    # 16 MiB decoded within the limit: other tasks must run while it decodes.
    packed = gzip.compress(b'"' + b"a" * (16 << 20) + b'"', 6)
    server = await serve(lambda head, i: gzip_answer(packed))
    up = make(server.port, limit=32 << 20, total=5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    answer = await up.send(GET, {})
    task.cancel()
    assert len(answer.body) == (16 << 20) + 2
    assert ticks > 16  # the decode yielded between its steps (at most 256 KiB each)
    await up.close()


async def test_multi_member_gzip_is_read_whole(serve, make) -> None:  # type: ignore[no-untyped-def]
    packed = gzip.compress(b'{"a": ') + gzip.compress(b'"b"}')
    server = await serve(lambda head, i: gzip_answer(packed))
    up = make(server.port)
    assert (await up.send(GET, {})).body == b'{"a": "b"}'
    await up.close()


async def test_corrupt_gzip_is_unavailable(serve, make) -> None:  # type: ignore[no-untyped-def]
    packed = gzip.compress(b'{"a": 1}' * 100)[:-8]  # truncated
    server = await serve(lambda head, i: gzip_answer(packed))
    up = make(server.port)
    with pytest.raises(UpstreamUnavailable):
        await up.send(GET, {})
    await up.close()


async def test_deflate_answer(serve, make) -> None:  # type: ignore[no-untyped-def]
    packed = zlib.compress(b'{"d": 1}')
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: deflate\r\n"
        b"Content-Length: " + str(len(packed)).encode() + b"\r\n\r\n" + packed
    )
    server = await serve(lambda head, i: reply)
    up = make(server.port)
    assert (await up.send(GET, {})).body == b'{"d": 1}'
    await up.close()


async def test_switching_protocols_is_an_unusable_answer(
    serve, make, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    server = await serve(lambda head, i: reply + b"\x81\x05hello")
    up = make(server.port)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(UpstreamUnavailable):
            await up.send(GET, {})
        await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text
    await up.close()


async def test_huge_answer_head_is_refused(serve, make) -> None:  # type: ignore[no-untyped-def]
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\nContent-Length: 2\r\n\r\n{}"
    server = await serve(lambda h, i: head)
    up = make(server.port)
    with pytest.raises(UpstreamUnavailable):
        await up.send(GET, {})
    many = b"HTTP/1.1 200 OK\r\n" + b"X-H: 1234567890\r\n" * 20000 + b"Content-Length: 2\r\n\r\n{}"
    server2 = await serve(lambda h, i: many)
    up2 = make(server2.port)
    with pytest.raises(UpstreamUnavailable):
        await up2.send(GET, {})
    await up.close()
    await up2.close()


async def test_connection_cap_with_a_short_queue(make) -> None:  # type: ignore[no-untyped-def]
    release = asyncio.Event()
    connections = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await release.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    up = make(server.sockets[0].getsockname()[1], connections=2, queue=2, total=5, connect=3)
    calls = [asyncio.create_task(up.send(GET, {})) for _ in range(6)]
    await asyncio.sleep(0.3)
    # Two in flight, two queued, two refused at once with Retry-After.
    refused = [c for c in calls if c.done()]
    assert len(refused) == 2
    for call in refused:
        error = call.exception()
        assert isinstance(error, UpstreamBusy) and error.headers["Retry-After"] == "1"
    assert connections == 2
    release.set()
    answers = await asyncio.gather(*[c for c in calls if c not in refused])
    assert [a.status for a in answers] == [200] * 4
    assert connections == 2  # the queued calls reused the two connections
    await up.close()
    server.close()


async def test_queued_call_gives_up_after_the_wait(make) -> None:  # type: ignore[no-untyped-def]
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    up = make(server.sockets[0].getsockname()[1], connections=1, queue=4, total=3, connect=0.2)
    first = asyncio.create_task(up.send(GET, {}))
    await asyncio.sleep(0.05)
    with pytest.raises(UpstreamBusy):
        await up.send(GET, {})
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await up.close()
    server.close()


async def test_connection_state_is_explicit() -> None:
    connection = _Connection(1024, asyncio.get_running_loop())
    assert connection.state is ConnectionState.NEW and not connection.is_closed()
    connection.close()
    assert connection.state is ConnectionState.CLOSED and connection.is_closed()


async def test_host_header_never_carries_credentials(serve) -> None:  # type: ignore[no-untyped-def]
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server = await serve(lambda head, i: ok)
    up = FastUpstream("t", f"http://user:secret@127.0.0.1:{server.port}", limits())
    await up.send(GET, {})
    assert b"secret" not in server.requests[0]
    await up.close()


_ = (Limits, V2Request)


async def test_headers_from_the_environment_are_sent(serve, make) -> None:  # type: ignore[no-untyped-def]
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server = await serve(lambda head, i: ok)
    up = make(server.port)
    up.limits = dataclasses.replace(up.limits, headers=(("X-Orch-Key", "k1"),))
    await up.send(GET, {"Authorization": "Bearer a"})
    assert b"\r\nX-Orch-Key: k1\r\n" in server.requests[0]
    assert b"\r\nAuthorization: Bearer a\r\n" in server.requests[0]
    await up.close()
