"""The request messages' quick __init__ behaves as the dataclass one it replaces."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from shimgw.messages import ABSENT, ParsedRequest, V2Request, _quick_init

CALL: dict[str, Any] = {
    "operation": "getRun",
    "method": "GET",
    "path": "/v2/runs/run-1",
    "path_params": {"runId": "run-1"},
    "query": {},
    "headers": {"a": "b"},
}


def test_keyword_and_default_arguments_fill_the_fields_and_positions_are_refused() -> None:
    call = V2Request(**CALL)
    assert (call.body, call.content_type) == (ABSENT, None)
    assert call == V2Request(**CALL, body=ABSENT, content_type=None)
    with pytest.raises(TypeError, match="positional"):
        V2Request(*CALL.values())  # type: ignore[misc]
    parsed = ParsedRequest(
        operation="getJob", path={"job_id": 1}, query={}, headers={}, body={"x": 1}
    )
    assert repr(parsed) == (
        "ParsedRequest(operation='getJob', path={'job_id': 1}, query={}, headers={}, body={'x': 1})"
    )
    assert ParsedRequest(operation="getJob", path={}, query={}, headers={}).body is ABSENT


def test_still_frozen_and_still_checks_its_arguments() -> None:
    parsed = ParsedRequest(operation="getJob", path={}, query={}, headers={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.operation = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="headers"):
        ParsedRequest(operation="getJob", path={}, query={})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nope"):
        ParsedRequest(operation="getJob", path={}, query={}, headers={}, nope=1)  # type: ignore[call-arg]


def test_refuses_what_it_would_skip() -> None:
    @dataclass(frozen=True, slots=True)
    class Factory:
        items: list[Any] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class Post:
        value: int

        def __post_init__(self) -> None:
            pass

    for cls in (Factory, Post):
        with pytest.raises(TypeError):
            _quick_init(cls)
