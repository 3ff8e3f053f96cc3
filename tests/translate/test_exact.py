"""The build-time proof that lets the sent check validate the answer object instead of
re-reading its bytes (exact.py): every bundled answer earns it, and anything that could
make `loads(dumps(x))` differ from `x` — a non-finite float, a type orjson writes its own
way, arithmetic, a transform the proof does not know, an unseen default — loses it."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any

import pytest

from shimgw.messages import ABSENT
from shimgw.translate import nodes as n
from shimgw.translate import transforms as tf
from shimgw.translate.exact import UNKNOWN, is_exact, proven_exact
from shimgw.translate.plan import OperationPlan, ProxyPlan


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**80), "x", 1.5, -0.0, [1, "a"], (1, 2), {"a": {"b": [None, 2.5]}}],
)
def test_json_values_are_exact(value: Any) -> None:
    assert is_exact(value)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        [1, float("nan")],
        {"a": {"b": float("inf")}},
        {1: "non-str key"},
        datetime.date(2024, 1, 1),
        Colour.RED,
        b"bytes",
        {"a": {1, 2}},
    ],
)
def test_values_orjson_writes_its_own_way_are_not(value: Any) -> None:
    assert not is_exact(value)


def read(root: str, *path: str, pipe: tuple[Any, ...] = (), default: Any = ABSENT) -> n.Value:
    return n.Value(n.From(root, path), pipe, default)


NO_DEFAULTS: Mapping[tuple[str, str], Any] = {}
PROVEN = [
    read("body", "id", pipe=(tf.StripPrefix("run-"), tf.Simple("to_int", tf.SIMPLE["to_int"]))),
    read("it", "x", default=None),
    read("body", "n", pipe=(tf.Within(1, None),)),
    read("body", "s", pipe=(tf.EnumMap({"A": ["B", "C"]}),)),
    read("body", "p", pipe=(tf.Buckets(((67, "high"), (None, "low"))),)),
    read("body", "runs", pipe=(n.Each((n.Apply(read("it", "id")),)),)),
    read("request", "body", "name"),
    read("request", "query", "page"),
    n.Value(n.Obj((("a", read("body", "a")), ("b", n.Value(n.Const([1, "x"])))))),
    n.Value(n.Concat((n.Value(n.Const("run-")), read("body", "id")))),
]


@pytest.mark.parametrize("value", PROVEN)
def test_rules_that_only_carry_json_values_are_proven(value: n.Value) -> None:
    assert proven_exact(value, {("query", "page"): 1})


UNPROVEN = [
    n.Value(n.Arith("mul", read("body", "a"), read("body", "b"))),  # 1e308 * 10 is inf
    n.Value(n.Const(float("nan"))),
    read("body", "a", default=float("inf")),
    read("body", "a", default=datetime.date(2024, 1, 1)),  # YAML reads dates as dates
    read("body", "s", pipe=(tf.EnumMap({"A": float("nan")}),)),
    read("body", "p", pipe=(tf.Buckets(((1, Colour.RED),)),)),
    read("body", "p", pipe=(tf.Simple("to_float", float),)),  # not on the proof's list
    read("body", "runs", pipe=(n.Each((n.Apply(n.Value(n.Const(float("inf")))),)),)),
    read("request", "query", "when"),  # its default is a date
    read("request", "query", "ref"),  # its default sits behind a $ref
    read("request", "query"),  # every parameter at once, `when` among them
    read("request"),
    read("elsewhere", "x"),
]


@pytest.mark.parametrize("value", UNPROVEN)
def test_anything_that_could_change_on_the_round_trip_is_not(value: n.Value) -> None:
    defaults = {("query", "when"): datetime.date(2024, 1, 1), ("query", "ref"): UNKNOWN}
    assert not proven_exact(value, defaults)


def test_every_bundled_json_answer_is_proven(plans: Mapping[str, OperationPlan]) -> None:
    proxied = [plan for plan in plans.values() if isinstance(plan, ProxyPlan)]
    assert proxied
    for plan in proxied:
        for status, rule in plan.responses.items():
            if rule.body is not None and rule.media_type == "application/json":
                assert rule.exact, f"{plan.operation} {status}"
