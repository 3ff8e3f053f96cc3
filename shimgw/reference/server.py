"""Running reference instances on real sockets (demo, benchmarks, manual poking)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from shimgw.reference.app import build_app
from shimgw.reference.store import RunStore, seed_demo

DEFAULT_NAMES = ("stable", "canary")


@dataclass(frozen=True)
class RunningInstance:
    name: str
    host: str
    port: int
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def start_reference(
    store: RunStore,
    names_ports: Sequence[tuple[str, int]],
    host: str = "127.0.0.1",
    *,
    phase2_path: Path | None = None,
    check_contract: bool = True,
) -> list[RunningInstance]:
    """Serve one instance per (name, port) over `store`; port 0 picks a free port.

    Call `stop_reference` on the result when done.
    """
    started: list[RunningInstance] = []
    try:
        for name, port in names_ports:
            app = build_app(store, name, phase2_path=phase2_path, check_contract=check_contract)
            # Access logs would drown test and benchmark output.
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            bound = int(runner.addresses[0][1])
            started.append(RunningInstance(name, host, bound, runner))
    except BaseException:
        await stop_reference(started)
        raise
    return started


async def stop_reference(instances: Sequence[RunningInstance]) -> None:
    for instance in instances:
        await instance.runner.cleanup()


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM: how the reference servers' command lines stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _names(count: int) -> list[str]:
    extra = [f"instance-{i + 1}" for i in range(len(DEFAULT_NAMES), count)]
    return [*DEFAULT_NAMES[:count], *extra]


async def _serve(ports: list[int], host: str, seed: bool, check_contract: bool) -> None:
    store = RunStore()
    if seed:
        seed_demo(store)
    instances = await start_reference(
        store,
        list(zip(_names(len(ports)), ports, strict=True)),
        host,
        check_contract=check_contract,
    )
    for instance in instances:
        print(f"{instance.name}: {instance.url}/v2", flush=True)
    try:
        await until_signalled()
    finally:
        await stop_reference(instances)
        if store.violations:
            print(f"{len(store.violations)} contract violation(s):", flush=True)
            for violation in store.violations:
                print(f"  {violation}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shimgw.reference",
        description="In-memory /v2 orchestrator; one instance per --port, sharing one store.",
    )
    parser.add_argument("--port", type=int, action="append", help="repeat for more instances")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--empty", action="store_true", help="start without the demo data")
    parser.add_argument(
        "--no-contract-check", action="store_true", help="skip validating well-routed traffic"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port or [9001], args.host, not args.empty, not args.no_contract_check))
