"""Fixtures: `make_harness` (gateways closed after the test) and `lines` (every log
record the shimgw loggers emit during a test)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from handler_support import Harness, Lines, harness


@pytest.fixture
def lines() -> Iterator[Lines]:
    root = logging.getLogger("shimgw")
    handler, level = Lines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def make_harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**sections: Any) -> Harness:
        made.append(harness(**sections))
        return made[-1]

    yield make
    for h in made:
        h.close()
