"""`Reply`: a Phase 1 answer written to the client as one buffer, in one write.

Theory of operation
-------------------
Every answer the gateway sends is small and complete before it is sent: a
status, a handful of headers, a body in memory. aiohttp's `web.Response` is
built for the general case (streamed bodies, compression, cookies, a
case-insensitive header multidict filled in four places, three coroutines to
prepare and finish it); for the gateway that machinery was ~10 µs of a ~150 µs
request. A `Reply` keeps the answer as plain values and, when aiohttp's request
handler calls `prepare`, renders the status line, the headers (its own, then
`Content-Type`, `Content-Length`, `Date`, `Server`, `X-Request-ID` and the
`Connection` header HTTP/1.x needs) and the body into one `bytes`, handed to
aiohttp's `StreamWriter` (so its byte counts, back-pressure and "an answer has
started" checks stay true).

It keeps what `web.Response` did on the wire: the status line in the request's
HTTP version with the standard reason phrase; no body and no `Content-Length`
for 1xx, 204 and 304 (RFC 9110 §8.6), no body for HEAD; `Connection: close`
when either side ends the connection and `Connection: keep-alive` for an
HTTP/1.0 client that keeps it; a header value with a control character refused
(`unsafe()` says so before the answer leaves: header injection) — the gateway
then sends its Phase 1 502 instead.

`RequestHandler.finish_response` needs only `prepare`, `write_eof` and
`keep_alive`; the rest (`status`, `body`, `headers`) is for the shadow runner,
which compares what the client was sent, and for tests.
"""

from __future__ import annotations

import http
import re
import time
from collections.abc import Iterable
from email.utils import formatdate
from typing import TYPE_CHECKING, cast

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest

# RFC 9110 §5.5: no CR, LF, NUL or other control characters (HTAB allowed) in a field.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY_STATUS = frozenset((204, 304, *range(100, 200)))
_REASONS = {s.value: s.phrase for s in http.HTTPStatus}


class _Clock:
    """The `Date` header, formatted at most once a second (RFC 9110 §6.6.1 asks no more)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True)
        return self._value


_CLOCK = _Clock()


class Reply:
    """One complete answer: status, headers, body (see the module docstring)."""

    __slots__ = ("_sent", "body", "content_type", "extra", "keep_alive", "server", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = tuple(headers)  # in order, as they go out (X-Request-ID among them)
        self.server = ""  # the `Server` header; set by the gateway before the answer leaves
        # False once `force_close` ran; else decided in `prepare`, read by aiohttp after it.
        self.keep_alive: bool | None = None
        self._sent = False

    def replace_headers(self, fields: Iterable[tuple[str, str]]) -> None:
        """Set these headers, in place of any of the same names (compared case-blind)."""
        fields = tuple(fields)
        names = {name.lower() for name, _ in fields}
        self.extra = tuple(f for f in self.extra if f[0].lower() not in names) + fields

    def force_close(self) -> None:
        """End the connection after this answer (`Connection: close`)."""
        self.keep_alive = False

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers a client would read (not the per-connection ones: Date, Connection)."""
        fields = CIMultiDict(self.extra)
        if self.content_type is not None:
            fields["Content-Type"] = self.content_type
        if self.server:
            fields["Server"] = self.server
        return CIMultiDictProxy(fields)

    def unsafe(self) -> bool:
        """Whether a header holds a character that would end it early (header injection)."""
        text = "\t".join(f"{name}\t{value}" for name, value in self.extra)
        return _FORBIDDEN.search(f"{text}\t{self.content_type or ''}\t{self.server}") is not None

    def render(self, method: str, version: tuple[int, int], keep_alive: bool) -> bytes:
        status, body = self.status, self.body
        lines = [f"HTTP/{version[0]}.{version[1]} {status} {_REASONS.get(status, '')}"]
        lines += [f"{name}: {value}" for name, value in self.extra]
        if status in _NO_BODY_STATUS:
            body = b""
        else:
            if body and self.content_type is None:
                lines.append("Content-Type: application/octet-stream")
            elif self.content_type is not None:
                lines.append(f"Content-Type: {self.content_type}")
            lines.append(f"Content-Length: {len(body)}")
            if method == "HEAD":
                body = b""
        lines.append(f"Date: {_CLOCK.now()}")
        if self.server:
            lines.append(f"Server: {self.server}")
        if not keep_alive:
            if version >= (1, 1):
                lines.append("Connection: close")
        elif version == (1, 0):
            lines.append("Connection: keep-alive")
        head = "\r\n".join(lines)
        return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body

    # What aiohttp's RequestHandler calls to send it.
    async def prepare(self, request: BaseRequest) -> None:
        if self._sent:
            return
        self._sent = True
        keep_alive = self.keep_alive is not False and request.keep_alive
        self.keep_alive = keep_alive
        data = self.render(
            request.method, (request.version.major, request.version.minor), keep_alive
        )
        await request.writer.write_eof(data)

    async def write_eof(self, data: bytes = b"") -> None:
        """Everything left with `prepare`."""

    def as_stream_response(self) -> web.StreamResponse:
        """For aiohttp's handler signature: a `Reply` speaks the part of `StreamResponse`
        that `RequestHandler` uses (prepare, write_eof, keep_alive)."""
        return cast(web.StreamResponse, self)
