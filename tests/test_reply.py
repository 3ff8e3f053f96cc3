"""`Reply` renders the bytes aiohttp's `web.Response` put on the wire, as tables."""

from __future__ import annotations

import re

import pytest

from shimgw.reply import Reply


def _head(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


@pytest.mark.parametrize(
    ("status", "method", "version", "keep", "line", "length", "connection", "body"),
    [
        (200, "GET", (1, 1), True, "HTTP/1.1 200 OK", "7", None, b'{"a":1}'),
        (404, "GET", (1, 1), False, "HTTP/1.1 404 Not Found", "7", "close", b'{"a":1}'),
        (200, "GET", (1, 0), True, "HTTP/1.0 200 OK", "7", "keep-alive", b'{"a":1}'),
        (200, "GET", (1, 0), False, "HTTP/1.0 200 OK", "7", None, b'{"a":1}'),
        (200, "HEAD", (1, 1), True, "HTTP/1.1 200 OK", "7", None, b""),
        (204, "DELETE", (1, 1), True, "HTTP/1.1 204 No Content", None, None, b""),
        (304, "GET", (1, 1), True, "HTTP/1.1 304 Not Modified", None, None, b""),
        (599, "GET", (1, 1), True, "HTTP/1.1 599 ", "7", None, b'{"a":1}'),
    ],
)
def test_render(
    status: int,
    method: str,
    version: tuple[int, int],
    keep: bool,
    line: str,
    length: str | None,
    connection: str | None,
    body: bytes,
) -> None:
    reply = Reply(status, b'{"a":1}', "application/json", [("X-Request-ID", "r-1")])
    reply.server = "shimgw"
    got_line, headers, got_body = _head(reply.render(method, version, keep))
    assert got_line == line
    assert headers.get("Content-Length") == length
    assert headers.get("Connection") == connection
    assert got_body == body
    assert headers["X-Request-ID"] == "r-1" and headers["Server"] == "shimgw"
    assert re.fullmatch(
        r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", headers["Date"]
    )
    if status not in (204, 304):
        assert headers["Content-Type"] == "application/json"


def test_a_body_without_a_type_is_an_octet_stream() -> None:
    _, headers, _ = _head(Reply(200, b"x", None, []).render("GET", (1, 1), True))
    assert headers["Content-Type"] == "application/octet-stream"
    _, headers, _ = _head(Reply(200, b"", None, []).render("GET", (1, 1), True))
    assert "Content-Type" not in headers and headers["Content-Length"] == "0"


@pytest.mark.parametrize(
    ("headers", "content_type", "unsafe"),
    [
        ([("ETag", '"3"')], "application/json", False),
        ([("ETag", "a\tb")], "application/json", False),  # HTAB is allowed in a field value
        ([("ETag", "a\r\nSet-Cookie: x=1")], "application/json", True),
        ([("ETag", "a\nb")], "application/json", True),
        ([("ETag", "a\x00b")], "application/json", True),
        ([("X\rY", "v")], "application/json", True),
        ([], "application/json\r\nX: y", True),
    ],
)
def test_a_control_character_in_a_header_is_caught(
    headers: list[tuple[str, str]], content_type: str, unsafe: bool
) -> None:
    assert Reply(200, b"{}", content_type, headers).unsafe() is unsafe


def test_headers_view_and_force_close() -> None:
    reply = Reply(200, b"{}", "application/json", [("X-Request-ID", "r")])
    reply.server = "gw"
    assert (
        reply.headers["x-request-id"] == "r" and reply.headers["content-type"] == "application/json"
    )
    assert reply.keep_alive is None
    reply.force_close()
    assert reply.keep_alive is False


def test_replace_headers_sets_in_place_of_the_same_names() -> None:
    reply = Reply(200, b"{}", "application/json", [("Link", "<a>"), ("X-Request-ID", "r")])
    reply.replace_headers([("link", '<b>; rel="sunset"'), ("Sunset", "Fri, 01 Jan 2027")])
    assert reply.extra == (
        ("X-Request-ID", "r"),
        ("link", '<b>; rel="sunset"'),
        ("Sunset", "Fri, 01 Jan 2027"),
    )
