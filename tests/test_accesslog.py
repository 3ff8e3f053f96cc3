"""The buffered access log: real descriptors (pipes, files, sockets), real processes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from shimgw.accesslog import MAX_FIELD, PIPE_BUF, AccessLog

FIELDS = ["level", "logger", "msg", "request_id", "method", "path"]
FIELDS += ["operation", "upstream", "status", "ms"]


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        os.close(fd)


def read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    try:
        while chunk := os.read(fd, 1 << 16):
            out += chunk
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, True)
    return out


def lines_of(data: bytes) -> list[dict[str, object]]:
    assert data.endswith(b"\n") or not data
    return [orjson.loads(line) for line in data.splitlines()]


async def test_one_json_line_per_request_with_the_access_fields(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = AccessLog(w)
    log.request("rid-1", "GET", "/api/v1/jobs/1", "getJob", "stable", 200, 0.0123456)
    log.request("rid-2", "POST", "/api/v1/jobs", "createJob", "canary", 502, 1.5)
    await asyncio.sleep(0)
    entries = lines_of(read_available(r))
    assert [list(e) for e in entries] == [FIELDS, FIELDS]
    assert entries[0] == {
        "level": "info",
        "logger": "shimgw.access",
        "msg": "request",
        "request_id": "rid-1",
        "method": "GET",
        "path": "/api/v1/jobs/1",
        "operation": "getJob",
        "upstream": "stable",
        "status": 200,
        "ms": 12.35,
    }
    assert entries[1]["status"] == 502 and entries[1]["ms"] == 1500.0
    log.close()


async def test_lines_leave_at_the_next_loop_iteration_not_one_write_each(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    log = AccessLog(w)
    for i in range(5):
        log.request(f"r{i}", "GET", "/x", "getJob", "stable", 200, 0.001)
    assert read_available(r) == b""  # still buffered: this iteration is not over
    await asyncio.sleep(0)
    assert [e["request_id"] for e in lines_of(read_available(r))] == [f"r{i}" for i in range(5)]
    log.close()


async def test_a_full_buffer_is_written_at_once(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = AccessLog(w, flush_bytes=600)
    for i in range(4):
        log.request(f"r{i}", "GET", "/p" * 100, "getJob", "stable", 200, 0.001)
    # Past 600 bytes the buffer went out inside the call, without waiting for the loop.
    assert len(lines_of(read_available(r))) >= 2
    log.close()


async def test_a_stalled_reader_never_blocks_and_drops_are_counted(pipe: tuple[int, int]) -> None:
    r, w = pipe
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)  # a small pipe fills fast
    dropped: list[int] = []
    log = AccessLog(w, dropped=dropped.append, max_bytes=8192, flush_bytes=1024)
    sent = 0
    for i in range(200):  # ~200 bytes each: far more than pipe + buffer hold
        log.request(f"r{i:04d}", "GET", "/api/v1/jobs/1", "getJob", "stable", 200, 0.001)
        sent += 1
    await asyncio.sleep(0)
    assert log.dropped > 0 and sum(dropped) == log.dropped  # the metric saw every drop
    assert os.get_blocking(w)  # the shared descriptor was left as it was
    received = lines_of(read_available(r))
    # The reader catches up: the loop is told the pipe is writable and the rest follows.
    for _ in range(50):
        await asyncio.sleep(0.01)
        received += lines_of(read_available(r))
        if len(received) + log.dropped == sent:
            break
    assert len(received) + log.dropped == sent
    ids = [e["request_id"] for e in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in order, whole, none twice
    log.close()


async def test_lines_of_several_processes_on_one_pipe_never_interleave() -> None:
    # Two writer processes with lines of ~100-2000 bytes on one pipe that is read slowly:
    # each write is whole lines and at most PIPE_BUF, so every line arrives whole.
    script = textwrap.dedent(
        """
        import asyncio, sys
        from shimgw.accesslog import AccessLog
        async def main():
            log = AccessLog(2, max_bytes=1 << 24)
            for i in range(1500):
                log.request(sys.argv[1], "GET", "/" + "x" * (i * 37 % 1900), "op", "up", 200, 0)
                if i % 50 == 0:
                    await asyncio.sleep(0)
            log.close(timeout_s=30)
        asyncio.run(main())
        """
    )
    r, w = os.pipe()
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name], stderr=w) for name in ("a", "b")
    ]
    os.close(w)
    data = b""
    with os.fdopen(r, "rb") as reader:
        while chunk := reader.read1(4096):
            data += chunk
            await asyncio.sleep(0.0005)  # a slow reader keeps the pipe full
    for proc in procs:
        assert proc.wait(30) == 0
    entries = lines_of(data)
    assert sorted(e["request_id"] for e in entries) == ["a"] * 1500 + ["b"] * 1500


async def test_regular_file_shares_the_offset_with_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "err.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # like `2> err.log`
    log = AccessLog(fd)
    log.request("r1", "GET", "/a", "getJob", "stable", 200, 0.001)
    log.flush()
    os.write(fd, b'{"msg":"other"}\n')  # a stdlib log line through the original descriptor
    log.request("r2", "GET", "/b", "getJob", "stable", 200, 0.001)
    log.close()
    os.close(fd)
    assert [e.get("request_id", e["msg"]) for e in lines_of(path.read_bytes())] == [
        "r1",
        "other",
        "r2",
    ]


async def test_socket_stderr_is_written_without_blocking() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        log = AccessLog(ours.fileno())
        log.request("r1", "GET", "/a", "getJob", "stable", 200, 0.001)
        await asyncio.sleep(0)
        theirs.settimeout(2)
        assert lines_of(theirs.recv(4096))[0]["request_id"] == "r1"
        log.close()


async def test_huge_paths_are_cut_so_a_line_fits_one_atomic_write(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = AccessLog(w)
    log.request("r1", "G" * 9000, "/" + "x" * 16000, "-", "-", 400, 0.0)
    log.close()
    (entry,) = lines_of(read_available(r))
    assert len(str(entry["path"])) == MAX_FIELD + 1 and str(entry["path"]).endswith("…")
    assert len(orjson.dumps(entry)) < PIPE_BUF


def test_without_a_loop_lines_are_written_at_once(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = AccessLog(w)
    log.request("r1", "GET", "/a", "getJob", "stable", 200, 0.001)
    assert lines_of(read_available(r))[0]["request_id"] == "r1"
    with pytest.raises(ValueError, match="newline"):
        log.write_line(b"{}")
    log.close()


async def test_close_writes_what_is_buffered_and_closes_only_its_own_descriptor(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    log = AccessLog(w, flush_bytes=1 << 20)
    log.write_line(b'{"a":1}\n')
    assert read_available(r) == b""
    log.close()
    assert read_available(r) == b'{"a":1}\n'
    os.write(w, b"still open\n")  # the caller's descriptor survives
    assert read_available(r) == b"still open\n"


async def test_drops_show_in_the_metrics_exposition(pipe: tuple[int, int]) -> None:
    from shimgw.observe import Metrics

    r, w = pipe
    metrics = Metrics()
    log = AccessLog(w, dropped=metrics.log_lines_dropped.inc, max_bytes=300)
    for i in range(3):  # the first fits the buffer, the next two do not
        log.request(f"r{i}", "GET", "/api/v1/jobs/1", "getJob", "stable", 200, 0.001)
    assert b"shimgw_log_lines_dropped_total 2.0" in metrics.exposition()
    log.close()
    assert len(lines_of(read_available(r))) == 1
