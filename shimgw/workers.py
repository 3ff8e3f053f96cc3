"""`shimgw serve`: one process, or N worker processes sharing one SO_REUSEPORT port."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from shimgw.config import load_config
from shimgw.observe import setup_logging
from shimgw.reload import Runtime
from shimgw.service import Service, run_until_signalled
from shimgw.snapshot import build_snapshot

log = logging.getLogger("shimgw")
Runner = Callable[[Coroutine[Any, Any, None]], None]


def serve(config_path: Path, *, workers: int, run: Runner) -> int:
    # Built before anything listens, so a bad config exits with one line and code 2.
    config = load_config(config_path)
    snapshot = build_snapshot(config)
    setup_logging(config.log_level)
    if workers != 1:
        raise SystemExit("shimgw: --workers other than 1 is not available in this build")

    async def main() -> None:
        await run_until_signalled(Service(Runtime(snapshot)))

    run(main())
    return 0
