"""`Deadline`: asyncio.timeout's rules in a plain `with` block, for per-request use.

`asyncio.timeout` costs two coroutines (its async `__aenter__`/`__aexit__`), an
enum state machine and a loop-time read per use; on the hot path (every /v2 call,
every body read) that was ~5 µs of a ~150 µs request. Nothing needs awaiting to
start or stop a timer, so this is a synchronous context manager with the same
contract: when the delay passes, the task is cancelled, and the CancelledError
that comes out of the block is turned into TimeoutError — unless the task was
also being cancelled from outside (the same `cancelling()`/`uncancel()`
bookkeeping asyncio.timeout does), which then propagates unchanged.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Deadline:
    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, delay_s: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle = asyncio.get_running_loop().call_later(delay_s, self._expire)

    def _expire(self) -> None:
        self._fired = True
        self._task.cancel()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.cancel()
        if (
            self._fired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc
