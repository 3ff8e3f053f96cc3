"""`Deadline`: asyncio.timeout's rules in a plain `with` block, for per-request use.

`asyncio.timeout` costs two coroutines (its async `__aenter__`/`__aexit__`), an
enum state machine and a loop-time read per use; on the hot path (every /v2 call,
every body read) that was ~5 µs of a ~150 µs request. Nothing needs awaiting to
start or stop a timer, so this is a synchronous context manager with the same
contract: when the delay passes, the task is cancelled, and the CancelledError
that comes out of the block is turned into TimeoutError — unless the task was
also being cancelled from outside (the same `cancelling()`/`uncancel()`
bookkeeping asyncio.timeout does), which then propagates unchanged.

Timers are shared. A loop timer of its own per deadline (`call_later`) was
still ~2.5 µs per request, almost all of it creating and cancelling the timer
handle, for deadlines that nearly never fire. Instead, deadlines that end in
the same `RESOLUTION_S` slot share one loop timer (a timing wheel, as Netty's
and the kernel's): entering a block is a set insert, leaving it a set discard,
and one timer per slot in use fires the deadlines still in it. A deadline
therefore fires at most `RESOLUTION_S` late, never early — far below any
timeout a gateway configures.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

RESOLUTION_S = 0.01


class _Wheel:
    """The slots of one event loop: slot number → the deadlines ending in it.

    It holds no reference to its loop (the caller passes it), so a finished loop is not
    kept in memory by the wheel its timers still name."""

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: dict[int, set[Deadline]] = {}

    def add(self, deadline: Deadline, delay_s: float, loop: asyncio.AbstractEventLoop) -> int:
        slot = math.ceil((loop.time() + delay_s) / RESOLUTION_S)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            loop.call_at(slot * RESOLUTION_S, self._fire, slot)
        members.add(deadline)
        return slot

    def remove(self, deadline: Deadline, slot: int) -> None:
        members = self._slots.get(slot)
        if members is not None:
            members.discard(deadline)

    def _fire(self, slot: int) -> None:
        for deadline in self._slots.pop(slot, ()):
            deadline.expire()


class _Last:
    """The wheel of the loop asked last. A process serves on one loop; when another loop
    asks (tests make many), it gets a new wheel: each Deadline keeps the wheel it joined,
    so the old one still answers for its own deadlines and is dropped with them."""

    loop: asyncio.AbstractEventLoop | None = None
    wheel: _Wheel | None = None


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    if loop is not _Last.loop or _Last.wheel is None:
        _Last.loop, _Last.wheel = loop, _Wheel()
    return _Last.wheel


class Deadline:
    __slots__ = ("_cancelling", "_fired", "_slot", "_task", "_wheel")

    def __init__(self, delay_s: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        # With the loop given, no `get_running_loop()`: on Python 3.11 that is a getpid()
        # system call each time (its fork check), ~0.5 µs in a VM, several per request.
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        if loop is None:
            loop = task.get_loop()
        self._wheel = _wheel(loop)
        self._slot = self._wheel.add(self, delay_s, loop)

    def expire(self) -> None:
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
        self._wheel.remove(self, self._slot)
        if (
            self._fired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc
