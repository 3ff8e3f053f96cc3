"""The access log: one JSON line per request, written without holding the event loop.

Theory of operation. `AccessLog.request(...)` encodes the line once (orjson, the
same fields the stdlib JSON formatter wrote) and appends it to a bytearray;
nothing is written there. The first line of a loop iteration schedules `flush`
with `call_soon`, so all lines of one iteration leave together at the start of
the next one; a buffer that grows past `flush_bytes` is flushed at once.

`flush` hands the kernel whole lines only, in write() calls of at most PIPE_BUF
bytes: such a write to a pipe is atomic, so the lines of several worker
processes sharing one stderr pipe never interleave. A regular file is written
through a duplicate of the process's own descriptor (shared offset, shared
O_APPEND if the shell opened it so; Linux serialises writes on one description).

Nothing blocks the loop: a pipe, FIFO or terminal is reopened as a private
description in non-blocking mode (the inherited one stays as it was: other
programs share it), and a socket (systemd's journal) is sent to with
MSG_DONTWAIT. When the reader does not keep up, write() says EAGAIN, the lines
stay in the buffer and the loop is asked to call back once the descriptor is
writable. While the buffer is at `max_bytes`, new lines are dropped and counted
(`shimgw_log_lines_dropped_total`); the request is never held for its log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import stat
import time
from collections.abc import Callable

import orjson

PIPE_BUF = select.PIPE_BUF  # 4096 on Linux: the largest write a pipe keeps whole
MAX_FIELD = 1024  # a 16 KiB request path would make a line no pipe keeps whole
_APPEND_NEWLINE = orjson.OPT_APPEND_NEWLINE


class _Sink:
    """Where the bytes go: `send(view)` writes some prefix and returns its length, or
    raises BlockingIOError; `fileno` is what the loop waits on for writability."""

    def __init__(self, fd: int) -> None:
        self.fileno, self._sock, self.pollable = _private_descriptor(fd)

    def send(self, data: memoryview) -> int:
        if self._sock is not None:
            return self._sock.send(data, socket.MSG_DONTWAIT)
        return os.write(self.fileno, data)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()  # closes the duplicate it owns
        else:
            os.close(self.fileno)


def _private_descriptor(fd: int) -> tuple[int, socket.socket | None, bool]:
    """(descriptor, socket or None, whether the loop can wait on it) for writing to fd."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISSOCK(mode):
        sock = socket.socket(fileno=os.dup(fd))
        return sock.fileno(), sock, True
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        # A new open file description: O_NONBLOCK on it leaves the shared one alone.
        with contextlib.suppress(OSError):
            return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK), None, True
    # Regular files (and anything we cannot reopen): the same description, so offsets
    # are shared with the process's other writers; a file write does not wait on a reader.
    return os.dup(fd), None, False


class AccessLog:
    """Buffered JSON access lines for one process (see the module docstring)."""

    def __init__(
        self,
        fd: int,
        *,
        dropped: Callable[[int], None] | None = None,
        max_bytes: int = 1 << 20,
        flush_bytes: int = 16 * PIPE_BUF,
    ) -> None:
        self._sink = _Sink(fd)
        self._buffer = bytearray()
        self._max_bytes = max_bytes
        self._flush_bytes = flush_bytes
        self._count_dropped = dropped
        self._scheduled = False  # a flush is queued for the next loop iteration
        self._waiting: asyncio.AbstractEventLoop | None = None  # loop watching writability
        self.dropped = 0  # lines dropped since start (also counted into the metric)
        self._reported = 0

    def request(
        self,
        rid: str,
        method: str,
        path: str,
        operation: str,
        upstream: str,
        status: int,
        seconds: float,
    ) -> None:
        if len(path) > MAX_FIELD:
            path = path[:MAX_FIELD] + "…"
        if len(method) > MAX_FIELD:
            method = method[:MAX_FIELD] + "…"
        line = orjson.dumps(
            {
                "level": "info",
                "logger": "shimgw.access",
                "msg": "request",
                "request_id": rid,
                "method": method,
                "path": path,
                "operation": operation,
                "upstream": upstream,
                "status": status,
                "ms": round(seconds * 1000, 2),
            },
            option=_APPEND_NEWLINE,
        )
        self.write_line(line)

    def write_line(self, line: bytes) -> None:
        """Queue one newline-terminated line (dropped and counted when the buffer is full)."""
        if not line.endswith(b"\n"):
            raise ValueError("an access line ends with a newline")
        buffer = self._buffer
        if len(buffer) + len(line) > self._max_bytes:
            self.dropped += 1
            self._report_drops()  # now: while the sink is stalled no flush would report it
            return
        buffer += line
        if self._waiting is not None:
            return  # the loop calls back when the descriptor takes more
        if len(buffer) >= self._flush_bytes:
            self.flush()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_soon(self._tick)
            except RuntimeError:  # no loop (shutdown, tests): write now
                self.flush()
            else:
                self._scheduled = True

    def _tick(self) -> None:
        self._scheduled = False
        if self._waiting is None:
            self.flush()

    def flush(self) -> None:
        """Write whole lines until done; when the sink is full, wait for the loop's call."""
        if self._write_out():
            self._wait_writable()
        self._report_drops()

    def _write_out(self) -> bool:
        """Write whole lines, PIPE_BUF at most per write; True when the sink is full."""
        buffer = self._buffer
        view = memoryview(buffer)
        sent, blocked = 0, False
        try:
            while sent < len(buffer):
                end = sent + PIPE_BUF
                if end < len(buffer):
                    cut = buffer.rfind(b"\n", sent, end)
                    # One line longer than PIPE_BUF goes out alone, whole.
                    end = cut + 1 if cut >= 0 else buffer.index(b"\n", sent) + 1
                sent += self._sink.send(view[sent:end])
        except BlockingIOError:
            blocked = True
        except OSError:
            # stderr is gone (closed pipe, full disk): nothing to keep the lines for.
            self.dropped += buffer.count(b"\n", sent)
            sent = len(buffer)
        finally:
            view.release()
            del buffer[:sent]
        return blocked

    def _wait_writable(self) -> None:
        if self._waiting is not None or not self._sink.pollable:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.add_writer(self._sink.fileno, self._writable)
        self._waiting = loop

    def _writable(self) -> None:
        self._stop_waiting()
        self.flush()

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.remove_writer(self._sink.fileno)
            self._waiting = None

    def _report_drops(self) -> None:
        if self.dropped != self._reported and self._count_dropped is not None:
            self._count_dropped(self.dropped - self._reported)
            self._reported = self.dropped

    def close(self, timeout_s: float = 1.0) -> None:
        """Write what is buffered (waiting at most timeout_s for a slow reader), then close."""
        self._stop_waiting()
        deadline = time.monotonic() + timeout_s
        while self._write_out() and self._sink.pollable:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([], [self._sink.fileno], [], left)
        self.dropped += self._buffer.count(b"\n")
        self._buffer.clear()
        self._report_drops()
        self._sink.close()


def open_stderr(dropped: Callable[[int], None] | None = None) -> AccessLog:
    return AccessLog(2, dropped=dropped)
