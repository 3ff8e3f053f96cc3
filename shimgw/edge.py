"""The Phase 1 listener's connection handling: timeouts, a connection cap, and the
answers aiohttp's HTTP parser gives on its own, all made Phase 1-shaped.

Theory of operation
-------------------
aiohttp runs one `RequestHandler` (an asyncio protocol) per client connection;
`EdgeRunner` makes it create `EdgeProtocol`s instead, which add what the stock
one lacks for a gateway facing unknown clients:

- a connection cap (`limits.max_connections` per process): a connection past
  it gets one Phase 1 503 (`Retry-After`, `Connection: close`) and is closed
  before any request is read; counted in `shimgw_client_connections_refused_total`;
- a head deadline (`timeouts.client_header`): from the first byte of a request
  head (or the connection's start) to the whole head; a client that trickles
  bytes is cut off, counted (`shimgw_client_timeouts_total{phase="header"}`);
- idle keep-alive (`timeouts.client_idle`) is aiohttp's keep-alive timeout;
  the body deadline (`timeouts.client_body`) is the handler's (server.py);
- a request the parser refuses (a header over 16 KiB, a bad character, an
  unknown method) gets the Phase 1 error body with a fresh `X-Request-ID`
  (`handle_error`), and one JSON log line naming only the kind of fault: what
  the parser quotes (raw header bytes, keys and tokens among them) is never
  logged, and neither is a traceback for a client's fault;
- a connection that closes after an answer whose request body was not all
  read (100-continue over the limit, say) ends our side first and drops what
  still comes (`_close_first`, RFC 9112 §9.6), so a client still sending reads
  the answer instead of a reset; on a kept connection the body is drained;
- the stop (`shutdown`): a request in progress gets `shutdown.grace_s`, its body
  still read if it is arriving; one still running then is cancelled with
  `SHUTDOWN_CUT`, which the handler answers 503 with Retry-After (exchange.py).

Settings are read from the snapshot in force when a connection opens, so a
reload applies to new connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from aiohttp import web
from aiohttp.helpers import ceil_timeout
from aiohttp.http_writer import StreamWriter
from aiohttp.web_protocol import _PAYLOAD_ACCESS_ERROR, ERROR, RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest

from shimgw import observe
from shimgw.errors import SHUTDOWN_CUT
from shimgw.messages import error_document
from shimgw.runtime import Runtime

log = logging.getLogger("shimgw")

# What a parser error is, in words that quote nothing the client sent.
_PARSER_FAULTS = {
    "LineTooLong": "a request line or header is too long",
    "BadHttpMethod": "unknown request method",
    "BadStatusLine": "malformed request line",
    "InvalidHeader": "malformed request header",
    "InvalidURLError": "malformed request target",
    "TransferEncodingError": "malformed transfer encoding",
    "ContentLengthError": "malformed content length",
}
_LOG_EVERY_S = 1.0  # repeated connection-level events: at most one log line a second each
_CUT_ANSWER_S = 1.0  # for a request cut at the end of shutdown.grace_s to write its 503


def _error_bytes(status: int, reason: str, message: str, extra: dict[str, str]) -> bytes:
    rid = observe.request_id(None)
    body = error_document(status, message, rid)
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    lines += [f"X-Request-ID: {rid}", f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Throttle:
    """At most one log line per event kind a second; the counters count every one."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, event: str, fields: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last.get(event, 0.0) < _LOG_EVERY_S:
            self._suppressed[event] = self._suppressed.get(event, 0) + 1
            return
        self._last[event] = now
        fields = {**fields, "suppressed": self._suppressed.pop(event, 0)}
        log.warning(event, extra={"fields": fields})


class EdgeProtocol(RequestHandler):
    """aiohttp's request handler with the edge's deadlines, cap and Phase 1 refusals."""

    __slots__ = ("_close_timer", "_edge", "_head_deadline", "_refused")

    def __init__(self, manager: web.Server, edge: EdgeServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._edge = edge
        self._head_deadline: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        edge = self._edge
        if edge.open >= edge.max_connections:
            # Refused before aiohttp sees it: one Phase 1 answer, then the door.
            self._refused = True
            edge.runtime.metrics.client_refused.inc()
            edge.throttle.log(
                "connection refused: limits.max_connections reached",
                {"max_connections": edge.max_connections},
            )
            tcp = cast(asyncio.Transport, transport)
            tcp.write(
                _error_bytes(
                    503,
                    "Service Unavailable",
                    f"too many connections (limits.max_connections = {edge.max_connections})",
                    {"Retry-After": "1", "Server": edge.server_header},
                )
            )
            tcp.close()
            return
        edge.open += 1
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self._edge.open -= 1
        self._disarm_head_deadline()
        if self._close_timer is not None:
            self._close_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._close or self._force_close:
            if self._body_arriving():
                self._feed_closing(data)
            return  # else dropped, as aiohttp does; no head deadline for it (`_close_first`)
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self._disarm_head_deadline()  # a whole head arrived
        elif data and not self._request_in_progress and not self._messages:
            self._arm_head_deadline()  # bytes of a new head: it must be whole in time

    def _body_arriving(self) -> bool:
        request = self._current_request
        return self._request_in_progress and request is not None and not request.content.is_eof()

    def _feed_closing(self, data: bytes) -> None:
        """The rest of a body the handler is reading, on a connection the shutdown closes.

        aiohttp stops parsing a connection once it is to close (the stop begins by closing
        them all): a request part-way through its body then could not finish within
        `shutdown.grace_s` however soon the rest came, and was cut when the grace ran out.
        The parser still gets the bytes while that body is incomplete; a request that
        follows is parsed but never served (the loop ends after this one)."""
        close, force_close = self._close, self._force_close
        self._close = self._force_close = False
        try:
            super().data_received(data)
        finally:
            self._close, self._force_close = close, force_close

    async def start(self) -> None:
        """aiohttp 3.14's request loop, with one change: each request's handler runs in
        this connection's task instead of a task of its own.

        On Python 3.11 aiohttp creates a task per request (3.12+ starts it eagerly), so
        every request paid a task, a context copy and two extra loop callbacks (~5 µs of
        ~150). The per-request task only isolated context variables between the requests
        of one connection; the gateway sets none that outlive a request (the OpenTelemetry
        span context is attached and detached around each one). Cancellation is the same:
        aiohttp cancels this task (shutdown, `handler_cancellation`), which the awaited
        handler is. tests/test_edge_loop.py pins aiohttp's own `start` so that an aiohttp
        release that changes it fails CI until this copy follows.
        """
        loop = self._loop
        manager = self._manager
        assert manager is not None
        unread = False  # the last request's body is still (partly) on the wire
        while not self._force_close:
            if not self._messages:
                try:
                    self._waiter = loop.create_future()
                    await self._waiter
                finally:
                    self._waiter = None
            message, payload = self._messages.popleft()
            if self._parser is not None:
                self._parser.message_consumed()
            if self._buffer_paused and len(self._messages) <= self._msg_queue_resume_size:
                self._resume_reading_if_drained()
            manager.requests_count += 1
            writer = StreamWriter(self, loop)
            if isinstance(message, _ErrInfo):
                request_handler = self._make_error_handler(message)
                message = ERROR
            else:
                assert self._request_handler is not None
                request_handler = self._request_handler
            assert self._request_factory is not None
            request = self._request_factory(
                message,
                payload,
                self,
                writer,
                cast("asyncio.Task[None]", self._task_handler or asyncio.current_task(loop)),
            )
            try:
                try:
                    resp, reset = await self._handle_request(request, None, request_handler)
                except ConnectionError:
                    break  # the client left mid-answer
                if reset:
                    break
                self._keepalive = bool(resp.keep_alive)
                if self._keepalive and not payload.is_eof():
                    await self._linger(payload)  # drained, the next request can be read
                unread = not payload.is_eof()
                payload.set_exception(_PAYLOAD_ACCESS_ERROR)
            except asyncio.CancelledError:
                self.force_close()
                raise
            except Exception as exc:
                self.log_exception("Unhandled exception", exc_info=exc)
                self.force_close()
            except BaseException:
                self.force_close()
                raise
            finally:
                request._task = None  # type: ignore[assignment]  # no reference cycle
            if not (self._keepalive and not self._close and not self._force_close):
                break
            close_time = loop.time() + self._keepalive_timeout
            self._next_keepalive_close_time = close_time
            if self._keepalive_handle is None:
                self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)
        if not self._force_close:
            self._task_handler = None
            if self.transport is not None:
                if unread:
                    self._close_first(self.transport)
                else:
                    self.transport.close()

    def _close_first(self, transport: asyncio.Transport) -> None:
        """The answer is out, but the client may still be sending a body nobody reads (a
        refusal before it, RFC 9110 §10.1.1 lets a client send it without waiting for 100
        Continue). Closing with its bytes unread makes the kernel answer them with a reset,
        and a client still sending lost the answer to it. So, as RFC 9112 §9.6 says, the
        gateway ends its own side first and drops what still comes until the client closes
        (`eof_received` then closes the transport) or `lingering_time` passes."""
        if not transport.can_write_eof():
            transport.close()
            return
        self._force_close = True  # what still comes is dropped unparsed (data_received)
        transport.write_eof()
        transport.resume_reading()  # paused while the unread body filled its buffer
        self._close_timer = self._loop.call_later(self._lingering_time, transport.close)

    async def _linger(self, payload: Any) -> None:
        """An unread request body on a kept connection: drained for at most
        `lingering_time` so the next request can be read, else the connection closes
        (`_close_first`)."""
        loop = self._loop
        if not self._force_close and self._lingering_time:
            now = loop.time()
            end = now + self._lingering_time
            try:
                while not payload.is_eof() and now < end:
                    async with ceil_timeout(end - now):
                        await payload.readany()
                    now = loop.time()
            except (asyncio.CancelledError, TimeoutError):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
        if not payload.is_eof() and not self._force_close:
            self.close()

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self._loop.call_later(
                self._edge.client_header, self._head_timed_out
            )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._request_in_progress or self._messages or self.transport is None:
            return
        self._edge.runtime.metrics.client_timeouts.labels("header").inc()
        self._edge.throttle.log(
            "client connection closed: request head not received in time",
            {"timeout_s": self._edge.client_header},
        )
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse (or a bug that escaped the handler)."""
        if request.writer.output_size > 0:
            raise ConnectionError("an answer is already on its way")
        kind = type(exc).__name__ if exc is not None else "unknown"
        if status == 400:
            text = "request refused: " + _PARSER_FAULTS.get(kind, "malformed HTTP request")
        else:
            status, text = 502, "internal gateway error"  # Phase 1 has no 500
        rid = observe.request_id(None)
        self._edge.runtime.metrics.client_malformed.labels(kind).inc()
        self._edge.throttle.log(
            "request refused by the HTTP parser" if status == 400 else "internal error",
            {"request_id": rid, "status": status, "fault": kind},
        )
        body = error_document(status, text, rid)
        resp = web.Response(
            status=status,
            body=body,
            content_type="application/json",
            headers={"X-Request-ID": rid, "Server": self._edge.server_header},
        )
        resp.force_close()
        return resp

    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109 - aiohttp's
        """aiohttp's, with `timeout` (shutdown.grace_s) bounding the wait for a request.

        aiohttp waits `timeout` for the request in progress, then fails only its body
        stream and waits `timeout` again for a handler that, awaiting the orchestrator,
        does not notice: a stop took twice the grace, and the request was lost to the
        kill that followed. Here the handler itself is cancelled when the grace ends
        (`SHUTDOWN_CUT`): the gateway answers it 503 with Retry-After, as the operation
        maps a busy orchestrator, and aiohttp's own shutdown then finds it done."""
        task = self._task_handler
        if self._request_in_progress and task is not None and not task.done():
            self._force_close = True  # no next request on this connection
            waiter = self._handler_waiter = self._loop.create_future()
            try:
                await asyncio.wait((waiter,), timeout=timeout)
            finally:
                self._handler_waiter = None
            if self._request_in_progress and not task.done():
                task.cancel(SHUTDOWN_CUT)
                await asyncio.wait((task,), timeout=_CUT_ANSWER_S)
        await super().shutdown(_CUT_ANSWER_S)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # aiohttp's own reports quote what the client sent; ours name the kind only.
        exc = kw.get("exc_info")
        kind = type(exc).__name__ if isinstance(exc, BaseException) else "unknown"
        self._edge.throttle.log("connection error", {"fault": kind})


class EdgeServer(web.Server):
    """aiohttp's protocol factory, making `EdgeProtocol`s with the snapshot's settings."""

    def __init__(self, base: web.Server, runtime: Runtime) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.runtime = runtime
        self.open = 0
        self.throttle = _Throttle()
        self._refresh()

    def _refresh(self) -> None:
        config = self.runtime.current.config
        self.max_connections = config.limits.max_connections
        self.client_header = config.timeouts.client_header
        self.server_header = config.listen.server_header
        self._kwargs["keepalive_timeout"] = config.timeouts.client_idle

    def __call__(self) -> RequestHandler:
        self._refresh()
        return EdgeProtocol(self, self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.ServerRunner):
    """A `ServerRunner` whose listener speaks through `EdgeProtocol`."""

    def __init__(self, server: web.Server, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._runtime = runtime

    async def _make_server(self) -> web.Server:
        return EdgeServer(await super()._make_server(), self._runtime)
