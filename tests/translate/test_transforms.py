"""The fixed transforms, one row each."""

from __future__ import annotations

from typing import Any

import pytest

from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T12:00:00Z", 1709208000),
        ("2024-02-29T12:00:00.999999Z", 1709208000),
        ("2024-02-29t12:00:00z", 1709208000),
        ("2024-02-29T14:00:00+02:00", 1709208000),
        ("2024-02-29T06:30:00-05:30", 1709208000),
        ("2024-02-29 12:00:00Z", 1709208000),
        ("1969-12-31T23:59:59Z", -1),
    ],
)
def test_rfc3339_to_epoch(text: str, epoch: int) -> None:
    assert tf.rfc3339_to_epoch(text) == epoch


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30T00:00:00Z",
        "2024-02-29T12:00:00",
        "2024-02-29",
        "yesterday",
        "2024-02-29T12:00:00+0200",
    ],
)
def test_rfc3339_rejects(text: str) -> None:
    with pytest.raises(tf.TransformFailed):
        tf.rfc3339_to_epoch(text)


def test_epoch_round_trip() -> None:
    assert tf.epoch_to_rfc3339(1709208000) == "2024-02-29T12:00:00Z"
    assert tf.rfc3339_to_epoch(tf.epoch_to_rfc3339(1234567890)) == 1234567890


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("plain", "plain"),
        ("a\\b", "a\\\\b"),
        ("a\rb\nc", "a\\rb\\nc"),
        ("\\n", "\\\\n"),
        ("\r\n", "\\r\\n"),
    ],
)
def test_escape_line(message: str, line: str) -> None:
    assert tf.escape_line(message) == line
    assert "\n" not in tf.escape_line(message) and "\r" not in tf.escape_line(message)


@pytest.mark.parametrize(
    ("name", "value", "out"),
    [
        ("to_int", "42", 42),
        ("to_int", "0", 0),
        ("to_int", 7, 7),
        ("to_str", 7, "7"),
        ("to_str", True, "true"),
        ("values", {"a": 1, "b": 2}, [1, 2]),
        ("sort", ["b", "a"], ["a", "b"]),
        ("unique", ["b", "a", "b", {"x": 1}, {"x": 1}], ["b", "a", {"x": 1}]),
        ("http_date", "2027-01-01T00:00:00Z", "Fri, 01 Jan 2027 00:00:00 GMT"),
        ("http_date", 0, "Thu, 01 Jan 1970 00:00:00 GMT"),
    ],
)
def test_simple(name: str, value: Any, out: Any) -> None:
    assert tf.SIMPLE[name](value) == out


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("to_int", "4.2"),
        ("to_int", "007"),  # not canonical: 7 would be written back as "7"
        ("to_int", "00"),
        ("to_int", True),
        ("to_int", "-"),
        ("to_str", [1]),
        ("values", [1]),
        ("sort", [1, "a"]),
        ("unique", "ab"),
        ("escape_line", 3),
    ],
)
def test_simple_rejects(name: str, value: Any) -> None:
    with pytest.raises(tf.TransformFailed):
        tf.SIMPLE[name](value)


def test_parametrised_transforms() -> None:
    assert tf.Template("run-", "").apply(12) == "run-12"
    assert tf.StripPrefix("run-").apply("run-12") == "12"
    with pytest.raises(tf.TransformFailed):
        tf.StripPrefix("run-").apply("job-12")
    table = tf.EnumMap({"a": 1})
    assert table.apply("a") == 1
    with pytest.raises(tf.TransformFailed):
        table.apply("b")
    with pytest.raises(tf.TransformFailed):
        table.apply(["unhashable"])
    buckets = tf.Buckets(((67, "high"), (34, "normal"), (None, "low")))
    assert [buckets.apply(v) for v in (100, 67, 66.5, 34, 33, -5)] == [
        "high",
        "high",
        "normal",
        "normal",
        "low",
        "low",
    ]
    with pytest.raises(tf.TransformFailed):
        buckets.apply("50")
    assert tf.Pluck("id").apply([{"id": 1}, {"id": 2}]) == [1, 2]
    with pytest.raises(tf.TransformFailed):
        tf.Pluck("id").apply([{"name": 1}])
    assert tf.Join(",").apply(["a", "b"]) == "a,b"


def test_absent_is_falsy_and_singular() -> None:
    assert not ABSENT
    assert repr(ABSENT) == "ABSENT"


def test_within_passes_inside_and_fails_outside() -> None:
    within = tf.Within(1, 10)
    assert (within.apply(1), within.apply(10), within.apply(5.5)) == (1, 10, 5.5)
    for bad in (0, 11, "5", True):
        with pytest.raises(tf.TransformFailed):
            within.apply(bad)
    assert tf.Within(None, None).apply(-(10**30)) == -(10**30)
