"""The request messages' quick __init__ behaves as the dataclass one it replaces."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from shimgw.messages import ABSENT, ParsedRequest, V2Request, _quick_init


def test_positional_keyword_and_default_arguments_fill_the_same_fields() -> None:
    call = V2Request("getRun", "GET", "/v2/runs/run-1", {"runId": "run-1"}, {}, {"a": "b"})
    assert (call.body, call.content_type) == (ABSENT, None)
    assert call == V2Request(
        operation="getRun",
        method="GET",
        path="/v2/runs/run-1",
        path_params={"runId": "run-1"},
        query={},
        headers={"a": "b"},
        body=ABSENT,
        content_type=None,
    )
    parsed = ParsedRequest("getJob", {"job_id": 1}, {}, {}, body={"x": 1})
    assert repr(parsed) == (
        "ParsedRequest(operation='getJob', path={'job_id': 1}, query={}, headers={}, body={'x': 1})"
    )
    assert ParsedRequest("getJob", {}, {}, {}).body is ABSENT


def test_still_frozen_and_still_checks_its_arguments() -> None:
    parsed = ParsedRequest("getJob", {}, {}, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.operation = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="headers"):
        ParsedRequest("getJob", {}, {})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nope"):
        ParsedRequest("getJob", {}, {}, {}, nope=1)  # type: ignore[call-arg]


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
