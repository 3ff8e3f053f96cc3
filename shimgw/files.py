"""Reading the files an operator points at (config, contracts, translations).

Only regular files are read. The file is opened non-blocking and checked with fstat on the
open descriptor before a byte is read: a FIFO named as the config (or dropped into the
translations folder) would otherwise block `serve`, `check` or a reload until some writer
came, and a character device could be read without end. Symlinks are followed, so
Kubernetes' ConfigMap links still resolve to the regular files behind them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def read_regular(path: Path) -> bytes:
    """The bytes of `path`; OSError (strerror says why) when it is not a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read()
    finally:
        os.close(fd)
