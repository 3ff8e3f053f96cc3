"""`shimgw serve | check | demo`: parse arguments, call the library, one clear line on error."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shimgw.errors import ConfigError


def _run(coro: object) -> None:
    # uvloop is a dependency where it builds (CPython, not Windows); elsewhere asyncio's
    # loop serves. The import is tried apart from the run, so an ImportError raised
    # while serving is not mistaken for a missing uvloop.
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]


WORKERS_PER_CPU = 4


def worker_count(text: str) -> int:
    """`--workers`: 1 up to 4 per CPU this process may run on. One event loop uses at most
    one core, so more only costs memory (~50 MiB each); an unbounded count forked until
    the machine ran out of memory."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    most = WORKERS_PER_CPU * (cpus or 1)
    if not 1 <= count <= most:
        raise argparse.ArgumentTypeError(
            f"{count} is not between 1 and {most} ({WORKERS_PER_CPU} per CPU, {cpus or 1} here)"
        )
    return count


def cmd_serve(args: argparse.Namespace) -> int:
    # Nothing that imports prometheus_client may come first: --workers sets its
    # multiprocess directory before the import.
    from shimgw.workers import serve

    return serve(Path(args.config), workers=args.workers, run=_run)


def cmd_check(args: argparse.Namespace) -> int:
    from shimgw.checkcmd import run_check

    return run_check(
        Path(args.config) if args.config else None,
        sys.stdout,
        fmt=args.format,
        generate=args.generate,
        seed=None if args.seed < 0 else args.seed,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from shimgw.demo import run_demo

    admin_port = (
        args.admin_port if args.admin_port is not None else (args.port + 1 if args.port else 0)
    )
    _run(
        run_demo(
            port=args.port,
            admin_port=admin_port,
            reference_ports=(args.stable_port, args.canary_port),
        )
    )
    return 0


def cmd_diffs(args: argparse.Namespace) -> int:
    from shimgw.diffscmd import run_diffs

    return run_diffs(args.admin, args.format, sys.stdout, sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shimgw", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, help="config YAML file")
    serve.add_argument(
        "--workers",
        type=worker_count,
        default=1,
        help=f"processes on one SO_REUSEPORT port (1 to {WORKERS_PER_CPU} per CPU)",
    )
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check", help="check the translations against both contracts")
    check.add_argument("--config", help="config YAML file (default: bundled files)")
    check.add_argument(
        "--format", choices=("text", "json", "junit"), default="text", help="output format"
    )
    check.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="also translate N generated examples per operation and direction (hypothesis)",
    )
    check.add_argument(
        "--seed", type=int, default=0, help="generator seed (default 0: reproducible; -1 random)"
    )
    check.set_defaults(func=cmd_check)
    demo = sub.add_parser("demo", help="gateway + reference orchestrator (stable, canary)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--admin-port", type=int, help="default: --port + 1")
    demo.add_argument("--stable-port", type=int, default=0)
    demo.add_argument("--canary-port", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    diffs = sub.add_parser("diffs", help="what shadow comparison found, per operation")
    diffs.add_argument("--admin", default="http://127.0.0.1:9180", help="admin listener URL")
    diffs.add_argument("--format", choices=("table", "json"), default="table")
    diffs.set_defaults(func=cmd_diffs)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"shimgw: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
