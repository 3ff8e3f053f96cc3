"""Reading the files an operator points at (config, contracts, translations).

Only regular files are read. The file is opened non-blocking and checked with fstat on the
open descriptor before a byte is read: a FIFO named as the config (or dropped into the
translations folder) would otherwise block `serve`, `check` or a reload until some writer
came, and a character device could be read without end. Symlinks are followed, so
Kubernetes' ConfigMap links still resolve to the regular files behind them.

A file over `MAX_FILE_BYTES` is refused too (declared size, and bytes actually read, for a
file that grows while it is read): none of these files is anywhere near it, and a reload
must not be made to hold an unbounded file in memory. Failures are `OSError`s whose
`strerror` reads as one line, so callers' "cannot read: …" messages carry them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 8 << 20  # the bundled contracts are ~30 KiB; a translation ~2 KiB


def read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path`; OSError (strerror says why) when it is not a regular file
    of at most `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than the {limit} bytes a file may have")
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew while it was read
                raise OSError(errno.EFBIG, f"larger than the {limit} bytes a file may have")
        return b"".join(chunks)
    finally:
        os.close(fd)
