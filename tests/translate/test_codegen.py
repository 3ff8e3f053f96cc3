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
from shimgw.translate import transforms as tf
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
    # The cases each written-out transform guards against (codegen._step_lines).
    edges: dict[str, list[Any]] = {
        "id": ["run-007", "run-", "run-0", "run-1", "run-\u0661\u0662", "run-12x", "RUN-1", True],
        "state": ["PENDING", "nope", ["RUNNING"], 1],
        "priority": [True, 50.5, 101, -1, 0, 67, 66.9],
        "createTime": ["2024-13-01T00:00:00Z", "2024-05-01T02:00:00+02:00", ""],
        "notification": [{"webhook": {"url": "u"}}, {"webhook": "flat"}, {"webhook": {}}, "x", {}],
        "result": [{"exitCode": 3}, {"exitCode": None}, "flat"],
    }
    for key, values in edges.items():
        for odd in values:
            changed = copy.deepcopy(RUN)
            changed[key] = odd
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


class Text(str):
    """A str subclass: the written-out cases take exact types only, the rest call."""


TRANSFORMS = [
    tf.SIMPLE["to_int"],
    tf.SIMPLE["rfc3339_to_epoch"],
    tf.StripPrefix("run-").apply,
    tf.StripPrefix("").apply,
    tf.EnumMap({"A": None, 1: "one", "1": "text one", 2.5: "float"}).apply,
    tf.Buckets(((67, "high"), (34, "normal"), (None, "low"))).apply,
    tf.Buckets(((10, None), (1.5, [1]))).apply,  # no floor: below 1.5 fails
    tf.Within(1, None).apply,
    tf.Within(None, 10).apply,
    tf.Within(1.5, 10).apply,
    tf.Within(None, None).apply,
]
INPUTS = [
    0,
    1,
    2,
    10,
    11,
    -3,
    1.5,
    2.0,
    True,
    False,
    None,
    "",
    "0",
    "00",
    "7",
    "07",
    "\u0661",
    "run-5",
    "run-",
    "A",
    "1",
    "x",
    [1],
    {"a": 1},
    Text("12"),
    Text("run-3"),
    "2024-05-01T02:00:00Z",
    "2024-02-30T00:00:00Z",
    2**70,
    67,
    66.99,
    34,
    33,
    float("nan"),
]


@pytest.mark.parametrize("fn", TRANSFORMS)
def test_written_out_transforms_equal_calling_them(fn: Any) -> None:
    build = object_builder((FieldSpec("x", fn, fn, ("x",), (fn,)),), None)  # type: ignore[arg-type]
    for value in INPUTS:
        try:
            expected: Any = ("ok", {"x": fn(value)})
        except TransformFailed as exc:
            expected = ("failed", f"x: {exc.args[0]}")
        got = outcome(build, {"x": value})
        assert got == expected, value
        if got[0] == "ok":
            assert type(got[1]["x"]) is type(expected[1]["x"]), value


def test_deep_reads_fall_back_to_the_closure_on_a_non_dict() -> None:
    spec = FieldSpec("u", lambda c, i: None, lambda c, i: "walked", ("a", "b", "c"))
    build = object_builder((spec,), lambda c, i: "slow")
    assert build({}, {"a": {"b": {"c": 1}}}) == {"u": 1}
    assert build({}, {"a": {"b": {}}}) is ABSENT
    assert build({}, {"a": {"b": "flat"}}) == {"u": "walked"}
    assert build({}, {"a": 5}) == {"u": "walked"}
