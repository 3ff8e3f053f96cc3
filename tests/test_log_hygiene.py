"""Library log records (aiohttp, asyncio) become one JSON line with no traceback text."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from shimgw.observe import setup_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in ("shimgw", "aiohttp", "asyncio")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def test_foreign_tracebacks_are_reduced_to_their_kind() -> None:
    setup_logging("info")
    stream = io.StringIO()
    for name in ("aiohttp", "asyncio"):
        logging.getLogger(name).handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        raise ValueError("Invalid header value char: b'X-Api-Key: sk-secret'")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "1.2.3.4")
        logging.getLogger("asyncio").exception("Fatal error on transport")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        entry = orjson.loads(line)
        assert entry["exc_type"] == "ValueError" and "exc" not in entry
        assert "sk-secret" not in line and "Traceback" not in line
