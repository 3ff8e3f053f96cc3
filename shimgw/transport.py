"""A lean HTTP/1.1 keep-alive client for the /v2 hop (the default upstream transport).

Why not aiohttp's ClientSession here: profiling the gateway showed a third of
its CPU per request inside ClientSession (request and response objects,
header multidicts, timers, tracing hooks) for a hop that is always the same
shape: one small JSON request to one known host, one small answer. This
client writes the request bytes itself and parses the answer with httptools
(the C parser uvicorn uses), over asyncio protocols kept in a LIFO pool.
`upstreams.*` can still use aiohttp's client with `upstream_transport: aiohttp`.

Failure mapping is the same as for the aiohttp transport: no connection in
`connect` seconds or no whole answer in `total` seconds → `UpstreamTimeout`;
refused, reset, closed mid-answer, unparseable, or over the size limit →
`UpstreamUnavailable`. A connection that failed in any way is never reused.
An idempotent call whose reused keep-alive connection was closed before a
single byte came back is retried once on a fresh connection (the server may
close an idle connection just as we write to it).

Bounds: an answer head over `MAX_HEAD_BYTES` and a body over the limit are
refused while they arrive; a compressed body is kept as sent (counted against
the same limit) and decoded after the answer is complete, in bounded steps
that yield to the event loop, its DECODED size capped (decoding.py), inside
`timeouts.total`. An upgrade (101 Switching Protocols, or any answer the
parser hands over as another protocol) is an unusable answer, not a crash.
At most `Limits.max_connections` calls are in flight per upstream, with a
short queue before it (qos.py); past it the call fails with `UpstreamBusy`.

Each connection has one explicit state (`ConnectionState`); the pool looks
at it through `is_closed()` and ends connections only through `close()`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from typing import cast
from urllib.parse import quote, urlsplit

import httptools

from shimgw import jsoncodec
from shimgw.deadline import Deadline
from shimgw.decoding import DecodedTooLarge, DecodeError, is_identity
from shimgw.errors import UntranslatableRequest, UpstreamTimeout, UpstreamUnavailable
from shimgw.httpio import decode_stepwise, over_limit
from shimgw.messages import ABSENT, V2Request, V2Response
from shimgw.orchestrator import Limits
from shimgw.qos import UpstreamGate

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
MAX_HEAD_BYTES = 64 << 10  # status line + headers of one answer


class ConnectionState(enum.Enum):
    """Where one pooled connection is in its life (as httpcore's HTTPConnectionState)."""

    NEW = "new"  # connecting
    IDLE = "idle"  # open, no call on it
    ACTIVE = "active"  # a call is waiting for its answer
    CLOSED = "closed"  # never carries another call


class _Closed(Exception):
    """The connection ended before a whole answer; `received` says if any byte came."""

    def __init__(self, received: bool) -> None:
        super().__init__("connection closed")
        self.received = received


class _Stop(Exception):
    """Raised from a parser callback to abandon an answer."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one call at a time."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        self.limit = limit
        self.loop = loop  # kept: asking asyncio for it costs a getpid() on Python 3.11
        self.transport: asyncio.Transport | None = None
        self.state = ConnectionState.NEW
        self.used = False
        self._waiter: asyncio.Future[V2Response] | None = None
        # One parser for the connection's life: llhttp starts the next answer after a
        # complete one; a connection whose parse failed is closed, never reused.
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._head_size = 0
        self._head_done = False
        self._status = 0
        self._received = False
        self._keep_alive = False

    def is_closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    def close(self) -> None:
        """End this connection for good (its framing or its peer can no longer be trusted)."""
        self.state = ConnectionState.CLOSED
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but speak its API.
        self.transport = cast(asyncio.Transport, transport)
        if self.state is ConnectionState.NEW:
            self.state = ConnectionState.IDLE

    def data_received(self, data: bytes) -> None:
        if self.state is not ConnectionState.ACTIVE:
            # Bytes nobody asked for (a late or extra answer): this connection's framing
            # can no longer be trusted, so it must never carry another call.
            self.close()
            return
        self._received = True
        if not self._head_done:
            self._head_size += len(data)  # httptools buffers a header line whole: count here
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamUnavailable("the answer switches protocols (upgrade refused)"))
        except httptools.HttpParserError as exc:
            # A callback that stopped the parse (over a limit) has already failed the
            # waiter with the real reason; this only reaches a waiter still open.
            self._fail(UpstreamUnavailable(f"unreadable answer: {exc}"))
        if not self._head_done and self._head_size > MAX_HEAD_BYTES:
            self._fail(UpstreamUnavailable(f"answer head over {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = ConnectionState.CLOSED
        headers = self._headers
        if (
            self._waiter is not None
            and self._status >= 200
            and "content-length" not in headers
            and "transfer-encoding" not in headers
        ):
            # An answer without a length ends with the connection (RFC 9112 §6.3).
            self.on_message_complete()
        self._fail(_Closed(self._received))

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # an answer nobody asked for: this connection's framing is lost

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()
        if self._status == 101 or self._parser.should_upgrade():
            self._fail(UpstreamUnavailable("the answer switches protocols (upgrade refused)"))
            raise _Stop
        if self._status >= 200:
            self._head_done = True
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            self._stop(int(declared))

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.limit:
            self._stop(None)
        self._chunks.append(body)

    def _stop(self, declared: int | None) -> None:
        self._fail(UpstreamUnavailable(over_limit(declared, self.limit)))
        raise _Stop  # makes httptools stop parsing this connection's bytes

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # a second answer to one call: never trust this connection again
            return
        if 100 <= self._status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the final one follows on
            # the same connection (RFC 9110 §15.2).
            self._headers, self._chunks, self._size, self._status = {}, [], 0, 0
            self._head_size = 0
            return
        headers = self._headers
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not self._keep_alive:
            self.close()
        # The body stays as sent; a compressed one is decoded by the caller, step by step.
        waiter.set_result(
            V2Response(
                status=self._status,
                headers=headers,
                content_type=ctype,
                body=b"".join(self._chunks),
            )
        )

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    async def exchange(self, data: bytes) -> V2Response:
        if self.transport is None or self.state is not ConnectionState.IDLE:
            raise _Closed(False)
        self._reset()
        self.state = ConnectionState.ACTIVE
        self._waiter = self.loop.create_future()
        self.transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = None
            if self.state is ConnectionState.ACTIVE:
                self.state = ConnectionState.IDLE


async def decoded(answer: V2Response, limit: int) -> V2Response:
    """`answer` with its Content-Encoding undone: decoded size capped at `limit`, in steps
    that yield to the loop, so neither a bomb nor a large body holds other requests."""
    encoding = answer.headers.get("content-encoding")
    if is_identity(encoding) or not answer.body:
        return answer
    assert encoding is not None
    try:
        body = await decode_stepwise(answer.body, encoding, limit)
    except (DecodedTooLarge, DecodeError) as exc:
        raise UpstreamUnavailable(f"answer: {exc}") from exc
    return V2Response(
        status=answer.status, headers=answer.headers, content_type=answer.content_type, body=body
    )


def _query_string(query: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='-._~')}={quote(v, safe='-._~')}" for k, v in query)


class FastUpstream:
    """An upstream over pooled `_Connection`s; same contract as `HttpUpstream`."""

    def __init__(self, name: str, url: str, limits: Limits) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(
                "the fast transport speaks plain http; use upstream_transport: aiohttp"
            )
        self.name, self.url = name, url
        self.limits = limits
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._host_header = f"{self._host}:{self._port}" if parts.port else self._host
        if ":" in self._host:
            self._host_header = f"[{self._host}]" + (f":{parts.port}" if parts.port else "")
        # The upstream's own headers (`upstreams.*.headers`), the same on every call:
        # rendered once per `limits` object.
        self._fixed_for: Limits | None = None
        self._fixed = ""
        self._idle: list[_Connection] = []
        self._retired = False  # after close(): still answers stragglers, pools nothing
        self._all: set[_Connection] = set()
        self.gate = UpstreamGate(
            name,
            limit=limits.max_connections,
            queue=limits.max_queue,
            wait=limits.connect_timeout,
        )

    def same_as(self, url: str, limits: Limits) -> bool:
        return (self.url, self.limits) == (url, limits)

    def _encode(self, request: V2Request, headers: Mapping[str, str]) -> bytes:
        target = self._prefix + request.path
        pairs = request.query_pairs()
        if pairs:
            target = f"{target}?{_query_string(pairs)}"
        body = jsoncodec.dumps(request.body) if request.body is not ABSENT else b""
        lines = [f"{request.method} {target} HTTP/1.1\r\nHost: {self._host_header}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise UntranslatableRequest(f"header {name}: a line break cannot be sent")
            lines.append(f"{name}: {value}")
        if self._fixed_for is not self.limits:
            self._fixed_for = self.limits
            self._fixed = "\r\n".join(f"{n}: {v}" for n, v in self.limits.headers)
        if self._fixed:
            lines.append(self._fixed)
        if body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        # Header values go out as the bytes the client sent (aiohttp decoded them as UTF-8).
        head = "\r\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\r\n\r\n"
        return head + body

    async def send(self, request: V2Request, headers: Mapping[str, str]) -> V2Response:
        try:
            data = self._encode(request, headers)
        except UnicodeEncodeError as exc:
            raise UntranslatableRequest("a header cannot be sent as HTTP/1.1 text") from exc
        if not self.gate.try_acquire():
            await self.gate.acquire()
        try:
            idle = self._idle_connection()
            loop = idle.loop if idle is not None else asyncio.get_running_loop()
            with Deadline(self.limits.total_timeout, loop):  # asyncio.timeout, cheaper
                answer = await self._send(data, idle, retry=request.method in _IDEMPOTENT)
                if "content-encoding" in answer.headers:
                    answer = await decoded(answer, self.limits.max_body_bytes)
                return answer
        except TimeoutError as exc:
            raise UpstreamTimeout(f"orchestrator ({self.name}) did not answer in time") from exc
        except UpstreamUnavailable as exc:
            if exc.message.startswith("orchestrator ("):
                raise
            raise UpstreamUnavailable(f"orchestrator ({self.name}): {exc.message}") from exc
        finally:
            self.gate.release()

    async def _send(self, data: bytes, idle: _Connection | None, *, retry: bool) -> V2Response:
        while True:
            connection = idle or self._idle_connection() or await self._connect()
            idle = None
            reused = connection.used
            connection.used = True
            try:
                answer = await connection.exchange(data)
            except _Closed as closed:
                if retry and reused and not closed.received:
                    retry = False
                    continue
                raise UpstreamUnavailable(
                    f"orchestrator ({self.name}) closed the connection mid-answer"
                ) from None
            except UpstreamUnavailable:
                raise
            except BaseException:
                connection.close()  # cancelled or timed out: its answer may still come
                raise
            finally:
                self._release(connection)
            return answer

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
            self._all.discard(connection)  # closed by the upstream while idle
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.limits.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(self.limits.max_body_bytes, loop), self._host, self._port
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"orchestrator ({self.name}): no connection in time") from exc
        except OSError as exc:
            raise UpstreamUnavailable(
                f"orchestrator ({self.name}) unreachable: {type(exc).__name__}"
            ) from exc
        self._all.add(protocol)
        return protocol

    def _release(self, connection: _Connection) -> None:
        # The gate keeps calls in flight at max_connections, so the idle list never
        # holds more than that either.
        if connection.is_closed() or self._retired:
            connection.close()
            self._all.discard(connection)
        else:
            self._idle.append(connection)

    async def close(self) -> None:
        # A call that began on an older snapshot may still come through here after a
        # reload retired this pool; it gets a connection of its own, closed after use.
        self._retired = True
        for connection in list(self._all):
            connection.close()
        self._all.clear()
        self._idle.clear()

    def __repr__(self) -> str:
        return f"FastUpstream({self.name!r}, {self.url!r})"
