"""Run an aiohttp app until SIGTERM/SIGINT, on uvloop when it is installed.

shimgw serves on uvloop; the fake upstream and the baseline do too, so the
comparison is between the proxies' own work and not between event loops.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web


def run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


async def serve_until_signalled(
    make_app: Callable[[], web.Application], host: str, port: int
) -> None:
    # The app is built inside the running loop: a ClientSession must be.
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
