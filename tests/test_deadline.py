"""Deadline behaves as asyncio.timeout does (the oracle), case by case."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from shimgw.deadline import RESOLUTION_S, Deadline


def deadline_cm(delay: float) -> Any:
    return Deadline(delay)


@contextlib.asynccontextmanager
async def asyncio_cm(delay: float) -> Any:
    async with asyncio.timeout(delay):
        yield


async def outcome(body: Callable[[], Any], use_asyncio: bool, delay: float) -> str:
    try:
        if use_asyncio:
            async with asyncio_cm(delay):
                return str(await body())
        with deadline_cm(delay):
            return str(await body())
    except TimeoutError:
        return "timeout"


@pytest.mark.parametrize("use_asyncio", [False, True])
async def test_a_slow_block_times_out_and_a_fast_one_does_not(use_asyncio: bool) -> None:
    async def slow() -> str:
        await asyncio.sleep(5)
        return "done"

    async def fast() -> str:
        await asyncio.sleep(0)
        return "done"

    assert await outcome(slow, use_asyncio, 0.02) == "timeout"
    assert await outcome(fast, use_asyncio, 1.0) == "done"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_an_outside_cancel_is_not_turned_into_a_timeout() -> None:
    async def body() -> None:
        with Deadline(0.01):
            await asyncio.sleep(5)

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    task.cancel()  # from outside, before the deadline
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancel_during_expiry_stays_a_cancel() -> None:
    async def body() -> None:
        with Deadline(0.0):
            task.cancel()  # both: our deadline and someone else's cancel
            await asyncio.sleep(5)

    task = asyncio.create_task(body())
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_timer_is_gone_after_the_block() -> None:
    with Deadline(0.01):
        pass
    await asyncio.sleep(0.05)  # a timer left behind would cancel this sleep
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


def test_outside_a_task_it_refuses() -> None:
    with pytest.raises(RuntimeError):
        Deadline(1.0)


async def test_a_deadline_fires_late_by_at_most_the_resolution_never_early() -> None:
    loop = asyncio.get_running_loop()
    for delay in (0.0, 0.004, 0.013, 0.05):
        started = loop.time()
        with pytest.raises(TimeoutError), Deadline(delay):
            await asyncio.sleep(5)
        waited = loop.time() - started
        assert delay <= waited < delay + RESOLUTION_S + 0.05, (delay, waited)


async def test_deadlines_ending_in_one_slot_share_one_loop_timer() -> None:
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]  # asyncio's own loop
    blocks = [Deadline(30.0) for _ in range(200)]
    timers = len(loop._scheduled) - before  # type: ignore[attr-defined]
    for block in blocks:
        block.__exit__(None, None, None)
    assert timers <= 2  # the 200 entries may straddle one slot boundary


async def test_only_the_blocks_still_open_are_cancelled() -> None:
    async def block(delay: float, work: float) -> str:
        try:
            with Deadline(delay):
                await asyncio.sleep(work)
                return "done"
        except TimeoutError:
            return "timeout"

    results = await asyncio.gather(block(0.02, 0.0), block(0.02, 1.0), block(0.02, 0.001))
    assert results == ["done", "timeout", "done"]


async def test_a_deadline_given_its_loop_times_out_the_same() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError), Deadline(0.01, loop):
        await asyncio.sleep(5)
    with Deadline(1.0, loop):
        await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


def test_a_closed_loop_is_not_kept_alive_by_its_wheel() -> None:
    # Each loop gets a wheel of its own (tests run many loops); the wheel must not be what
    # keeps a finished loop, its selector and its callbacks in memory.
    async def use() -> None:
        with Deadline(1.0):
            await asyncio.sleep(0)

    first = asyncio.new_event_loop()
    first.run_until_complete(use())
    first.close()
    gone = weakref.ref(first)
    del first
    second = asyncio.new_event_loop()
    second.run_until_complete(use())  # the next loop asks: the cache of the last one moves on
    second.close()
    gc.collect()
    assert gone() is None
