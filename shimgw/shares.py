"""Worker shares: each worker's usage and diff books, for the admin worker to add up.

Theory of operation
-------------------
Under `--workers N` every worker counts what it serves in its own books
(usage.py, shadow/book.py): counting stays a few attribute writes, with no
lock and no message per request. Only worker 0 answers `/admin/usage` and
`/admin/diffs`, so the others' counts must reach it. The supervisor makes one
private directory (mode 0700) before it forks; every worker, worker 0
included, writes its books there about once a second (`PUBLISH_S`) and once
more when it stops, as `<kind>-<pid>.json`, each written whole to a temporary
name and renamed, so a reader sees the old file or the new one, never half.
Worker 0 answers from its own live books plus every other file of that kind.

One file per process, not per worker slot: a worker that crashed and was
restarted leaves its last share behind, so what it counted is not lost (at
most its last second is). Files are never deleted while the gateway runs;
their number grows only with restarts, which the supervisor bounds.

A file that cannot be read or parsed is skipped (a share is evidence, not
authority): the answer then speaks for fewer processes, and says how many
(`processes`). Nothing here is on the request path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from shimgw import jsoncodec

PUBLISH_S = 1.0
USAGE, DIFFS = "usage", "diffs"
T = TypeVar("T")


class ShareDir:
    """The directory the workers share; one instance per process."""

    def __init__(self, path: Path, pid: int | None = None) -> None:
        self.path = path
        self.pid = os.getpid() if pid is None else pid
        self._written: dict[str, bytes] = {}  # kind → the bytes last published

    def publish(self, kind: str, data: object) -> None:
        """Write this process's `kind` share, unless it is what was written last."""
        body = jsoncodec.dumps(data)
        if self._written.get(kind) == body:
            return
        final = self.path / f"{kind}-{self.pid}.json"
        partial = self.path / f".{kind}-{self.pid}.json.tmp"
        partial.write_bytes(body)
        os.replace(partial, final)
        self._written[kind] = body

    def others(self, kind: str, parse: Callable[[object], T]) -> list[T]:
        """Every other process's `kind` share that parses; unreadable ones are skipped."""
        shares = []
        for body in self._bodies(kind):
            with contextlib.suppress(ValueError):
                shares.append(parse(jsoncodec.loads(body)))
        return shares

    def _bodies(self, kind: str) -> Iterator[bytes]:
        mine = f"{kind}-{self.pid}.json"
        try:
            names = sorted(p.name for p in self.path.glob(f"{kind}-*.json"))
        except OSError:
            return
        for name in names:
            if name == mine:
                continue
            with contextlib.suppress(OSError):
                yield (self.path / name).read_bytes()
