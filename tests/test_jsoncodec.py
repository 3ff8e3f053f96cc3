"""jsoncodec: orjson's speed for ordinary bodies, exact integers of any size for the rest."""

from __future__ import annotations

import json
import re

import pytest

from shimgw import jsoncodec

BIG = 2**64  # the first integer orjson cannot hold


@pytest.mark.parametrize(
    "value",
    [
        {"a": BIG, "b": -(2**63) - 1, "c": [10**40, 1.5, "x" * 30, True, None]},
        {"n": 2**64 - 1, "m": -(2**63)},  # orjson's own range, both ends
        {"s": "1" * 25},  # digits in a string are text
        # Nineteen digits can already leave orjson's range below zero (it holds down to
        # -2**63 and reads anything lower as a float), each alone in its body.
        [-(2**63) - 1],
        {"low": -(10**19) + 1},
    ],
)
def test_round_trip_is_exact(value: object) -> None:
    data = jsoncodec.dumps(value)
    assert json.loads(data) == value  # the standard library as the oracle
    assert jsoncodec.loads(data) == value


@pytest.mark.parametrize(
    "data", [b"[1" + b"0" * 25, b"NaN", b'{"a": 100000000000000000000, }', b"[" * 5000 + b"1"]
)
def test_bad_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - both decoders' errors are ValueErrors
        jsoncodec.loads(data + b" 12345678901234567890")


def test_unencodable_values_still_fail() -> None:
    with pytest.raises(TypeError):
        jsoncodec.dumps({"x": object()})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"12345678901234567890", True),
        (b'{"a":1234567890123456789}', False),  # 19 digits: orjson's range
        (b'{"a":-123456789012345678}', False),  # 18 digits and a sign: still its range
        (b'{"a":-9223372036854775809}', True),  # 19 and a sign: not (orjson stops at -2**63)
        (b'{"a":"x", "b": [1, 99999999999999999999]}', True),
        (b"1234567890 1234567890", False),
        (b"\xff" * 30 + b"0" * 20 + b"\x00", True),
        (b"", False),
    ],
)
def test_the_long_digit_scan_finds_the_numbers_orjson_cannot_hold(
    data: bytes, expected: bool
) -> None:
    """Twenty digits, or nineteen after a minus sign, are always found (a string holding
    them, or "-" runs, are false alarms the exact decoder then reads the same)."""
    assert jsoncodec.has_long_digit_run(data) is expected
    assert jsoncodec.has_long_digit_run(data) is (re.search(rb"[-0-9]{20}", data) is not None)


def test_a_number_too_long_to_convert_is_named_without_python_advice() -> None:
    with pytest.raises(ValueError, match="more than 4300 digits") as caught:
        jsoncodec.loads(b'{"n": ' + b"9" * 5000 + b"}")
    assert "set_int_max_str_digits" not in str(caught.value)


@pytest.mark.parametrize("number", [b"1e999", b"-1e400", b"123456789012345678901e999"])
def test_both_decoders_refuse_a_number_that_overflows_to_infinity(number: bytes) -> None:
    # orjson refuses it; so must the exact-integer path, or a body would decode to inf or
    # not depending on a digit run elsewhere in it (and exact.py counts on finite floats).
    for data in (b"[" + number + b"]", b'{"n": 12345678901234567890123, "x": ' + number + b"}"):
        with pytest.raises(ValueError, match="infinity"):
            jsoncodec.loads(data)


@pytest.mark.parametrize(
    "text", [b'"\\ud800"', b'"\\udc00x"', b'{"\\udfff": 1}', b'["a\\ud83d"]', b'"\\ud800\\ud800"']
)
def test_both_decoders_refuse_a_lone_surrogate(text: bytes) -> None:
    # orjson refuses a lone surrogate escape; the exact path read it into a str no UTF-8
    # writer takes, so a body with "-" and nineteen digits anywhere (a string will do) went
    # on to fail at the upstream call: a 502 where the same body without them was a 400.
    with pytest.raises(ValueError, match="surrogate"):
        jsoncodec.loads(text)
    with pytest.raises(ValueError, match="surrogate"):
        jsoncodec.loads(b'{"s": "-1234567890123456789", "x": [' + text + b"]}")


def test_a_surrogate_pair_is_one_character_on_both_paths() -> None:
    for extra in (b"", b', "-1234567890123456789"'):
        assert jsoncodec.loads(b'["\\ud83d\\ude00"' + extra + b"]")[0] == "\U0001f600"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_non_json_constant_is_named_on_the_exact_path(constant: bytes) -> None:
    # Not "a number has more than 4300 digits": that message is for long digit strings.
    with pytest.raises(ValueError, match=f"{constant.decode()} is not JSON"):
        jsoncodec.loads(b'{"s": "-1234567890123456789", "x": ' + constant + b"}")
