"""Generated object builders against the closures they replace (the oracle).

Every object rule of the bundled translations is evaluated twice on the same
input: as a dict (the generated code runs) and as a read-only mapping (the
builder hands it to the closure version). Results and failures must be equal.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import pytest

from shimgw.messages import ABSENT
from shimgw.translate.codegen import FieldSpec, object_builder
from shimgw.translate.compiler import compile_value
from shimgw.translate.nodes import Obj, Translations
from shimgw.translate.transforms import TransformFailed

RUN: dict[str, Any] = {
    "id": "run-42",
    "displayName": "nightly",
    "plugin": {"id": "spark", "version": "3"},
    "state": "RUNNING",
    "priority": 50,
    "labels": {"owner": "ana"},
    "tags": ["a"],
    "parameters": {"k": 1},
    "createTime": "2024-05-01T02:00:00Z",
    "updateTime": "2024-05-01T02:03:17.250Z",
    "startTime": "2024-05-01T02:00:05Z",
    "etag": '"42-7"',
}


def variants() -> list[dict[str, Any]]:
    out = [copy.deepcopy(RUN)]
    for key in RUN:
        missing = copy.deepcopy(RUN)
        del missing[key]
        out.append(missing)
        for odd in (None, 7, "x", [], {"id": 1}):
            changed = copy.deepcopy(RUN)
            changed[key] = odd
            out.append(changed)
    for inner in ("plugin", "labels"):
        for odd in ({}, {"id": None, "owner": None}, "flat"):
            changed = copy.deepcopy(RUN)
            changed[inner] = odd
            out.append(changed)
    return [*out, {}]


def outcome(fn: Any, it: Any) -> Any:
    try:
        return ("ok", fn({}, it))
    except TransformFailed as exc:
        return ("failed", exc.describe())


def objects(translations: Translations) -> dict[str, Any]:
    found = {name: v for name, v in translations.shapes.items() if isinstance(v.base, Obj)}
    assert "job" in found  # the rule getJob's answer goes through
    return found


def freeze(value: Any) -> Any:
    return MappingProxyType(value) if isinstance(value, dict) else value


@pytest.mark.parametrize("it", variants())
def test_generated_builders_equal_their_closures(translations: Translations, it: Any) -> None:
    for name, value in objects(translations).items():
        build = compile_value(value)
        fast, slow = outcome(build, it), outcome(build, freeze(it))
        assert fast == slow, name


def test_fields_inline_defaults_transforms_and_name_failures() -> None:
    calls: list[Any] = []

    def double(v: Any) -> Any:
        calls.append(v)
        if not isinstance(v, int):
            raise TransformFailed(f"not a number: {v!r}")
        return v * 2

    specs = (
        FieldSpec("a", lambda c, i: None, lambda c, i: None, ("a",), (double,), -1),
        FieldSpec("b", lambda c, i: None, lambda c, i: "walked", ("b", "c")),
        FieldSpec("d", lambda c, i: "closure", lambda c, i: "closure", None),
    )
    build = object_builder(specs, lambda c, i: "slow")
    assert build({}, {"a": 2, "b": {"c": 3}}) == {"a": 4, "b": 3, "d": "closure"}
    assert build({}, {"b": 5}) == {"a": -1, "b": "walked", "d": "closure"}  # default, no call
    assert calls == [2]
    with pytest.raises(TransformFailed) as failed:
        build({}, {"a": "x"})
    assert failed.value.path[0] == "a"
    assert build({}, MappingProxyType({})) == "slow"
    empty = object_builder(
        (FieldSpec("x", lambda c, i: ABSENT, lambda c, i: ABSENT, ("x",)),), None
    )  # type: ignore[arg-type]
    assert empty({}, {}) is ABSENT
    assert object_builder((), None)({}, {}) == {}  # type: ignore[arg-type]
