"""`shimgw diffs` against an admin URL that answers something else than a diffs document.

An operator points `--admin` at the wrong port (a web server's HTML page), at a proxy
that answers an error page, or at a server that never finishes: whatever comes back, the
command prints one line on stderr and exits 1 within its deadline, never a traceback,
never gigabytes of memory and never a hang.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shimgw import diffscmd
from shimgw.diffscmd import run_diffs

Answer = Callable[[BaseHTTPRequestHandler], None]


def _body(content_type: str, body: bytes, status: int = 200) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def _endless(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    try:
        while True:
            handler.wfile.write(b" " * 65536)
    except OSError:
        pass


def _drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass


@pytest.fixture
def admin() -> Iterator[Callable[[Answer], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _run(url: str, fmt: str = "table") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_diffs(url, fmt, out, err)
    return code, out.getvalue(), err.getvalue()


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shimgw diffs: "), err
    return lines[0]


JSON = "application/json"


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("text/html", b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
        (JSON, b"\xff\xfe{}", "not JSON"),
        (JSON, b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (JSON, b"[1, 2, 3]", "not a diffs document"),
        (JSON, b'"hello"', "not a diffs document"),
        (JSON, b'{"operations": [1, 2]}', "not a diffs document"),
        (JSON, b'{"operations": {"getJob": {"counts": 5, "pointers": [1]}}}', "not a diffs"),
        (JSON, b'{"operations": {"getJob": {}}, "samples": [{"x": 1}]}', "not a diffs"),
    ],
)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_an_answer_that_is_not_a_diffs_document_is_one_line_and_exit_1(
    admin: Callable[[Answer], str], content_type: str, body: bytes, says: str, fmt: str
) -> None:
    url = admin(_body(content_type, body))
    code, out, err = _run(url, fmt)
    assert code == 1 and not out
    assert says in _one_line(err)


def test_an_error_status_is_named(admin: Callable[[Answer], str]) -> None:
    url = admin(_body("text/plain", b"boom", status=500))
    code, _, err = _run(url)
    assert code == 1 and "500" in _one_line(err)


def test_an_endless_answer_is_cut_at_the_cap(
    admin: Callable[[Answer], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unbounded, `resp.read()` took 4 GB of memory for a 2 GB answer.
    monkeypatch.setattr(diffscmd, "MAX_BYTES", 1 << 20)
    url = admin(_endless)
    code, out, err = _run(url)
    assert code == 1 and not out
    assert "larger than" in _one_line(err)


def test_a_dripping_answer_is_given_up_at_the_deadline(
    admin: Callable[[Answer], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # urllib's timeout is per read: one byte every 0.2 s kept `shimgw diffs` waiting forever.
    monkeypatch.setattr(diffscmd, "DEADLINE_S", 1.0)
    url = admin(_drip)
    started = time.monotonic()
    code, out, err = _run(url)
    assert time.monotonic() - started < 3
    assert code == 1 and not out
    assert "no whole answer within 1s" in _one_line(err)


def test_credentials_in_the_admin_url_are_not_echoed() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code, _, err = _run(f"http://ops:s3cretpw@127.0.0.1:{port}")
    assert code == 1
    line = _one_line(err)
    assert "s3cretpw" not in line and "ops:" not in line
    assert f"127.0.0.1:{port}/admin/diffs" in line
