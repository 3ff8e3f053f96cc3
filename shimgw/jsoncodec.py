"""JSON in and out of the gateway, exact for integers of any size.

orjson (the codec on every hot path) reads an integer beyond 64 bits as a float
(`123456789012345678901234567890` → `1.2345678901234568e+29`) and refuses to
write one. Phase 1's `params` and /v2's `parameters` are JSON numbers with no
size limit, so a gateway that only translates must not round them.

The choice: exact end to end rather than a 400. An integer needs 20 or more
digits (19 below zero) to leave orjson's range, so a body without such a run
(all but a vanishing few) is read by orjson as before; one with such a run is
read by the standard library, whose integers are exact. Writing tries orjson and falls
back the same way. The cost on ordinary bodies is one byte scan (translate + find).
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

import orjson

# orjson holds -2**63 .. 2**64-1. Twenty digits in a row can leave that range above (2**64
# has 20 digits), nineteen after a minus sign below (-2**63-1 has 19); fewer cannot. The
# scan maps every digit and "-" to 1, every other byte to 0, and looks for twenty 1s: two
# passes in C, finding both cases (and a few harmless false alarms, like "--" and 18
# digits, which the exact decoder reads the same). (`re.search(rb"[0-9]{20}")` took
# ~25 µs per KiB, more than orjson's parse.)
_DIGIT_MAP = bytes(1 if 0x30 <= byte <= 0x39 or byte == 0x2D else 0 for byte in range(256))
_LONG_RUN = b"\x01" * 20


def has_long_digit_run(data: bytes) -> bool:
    return _LONG_RUN in data.translate(_DIGIT_MAP)


def loads(data: bytes) -> Any:
    """Decode JSON; integers of any size stay exact. Raises `ValueError` on bad JSON."""
    if not has_long_digit_run(data):
        return orjson.loads(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from exc
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ValueError(str(exc)) from exc
    except _Refused:
        raise
    except ValueError as exc:  # CPython's cap on int() of long digit strings (CVE-2020-10735)
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"a number has more than {limit} digits") from exc
    except RecursionError as exc:  # orjson stops at 1024 levels; so does this path
        raise ValueError("nested too deeply") from exc
    # A lone surrogate escape ("\ud800") is refused by orjson but read by json into a str
    # no UTF-8 writer takes: the body would then fail at the upstream call (a 502) where
    # the same body without a long digit run was a 400. json joins a valid pair into one
    # character, so any surrogate left is a lone one; only a body with such an escape in
    # its text is walked.
    if ("\\ud" in text or "\\uD" in text) and _holds_surrogate(value):
        raise ValueError("lone surrogate in string: not UTF-8")
    return value


def dumps(value: Any) -> bytes:
    """Encode JSON compactly; integers beyond 64 bits are written digit for digit."""
    try:
        return orjson.dumps(value)
    except TypeError:
        if not _has_big_int(value):
            raise
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


class _Refused(ValueError):
    """What orjson refuses too (NaN, a number beyond a double's range), with its own
    message: not to be taken for CPython's cap on long digit strings."""


def _finite(text: str) -> float:
    # As orjson does: 1e999 is refused, not read as inf. Every float the gateway decodes is
    # finite, which the sent check's shortcut relies on (translate/exact.py).
    number = float(text)
    if math.isinf(number):
        raise _Refused(f"number is infinity when parsed as double: {text[:40]}")
    return number


_SURROGATE = re.compile(r"[\ud800-\udfff]")  # left by json only when lone


def _holds_surrogate(value: Any) -> bool:
    stack = [value]  # a loop, not recursion: the value may be nested near the limit
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _has_big_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return any(_has_big_int(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_big_int(v) for v in value)
    return False
