"""The fixed set of value transforms the mapping language offers.

Each transform is a frozen dataclass with an `apply` method over plain Python
values. A transform that cannot apply raises `TransformFailed`; the engine turns
that into a client error on the request side and a 502 on the response side,
because the cause is then an orchestrator answer the rule did not expect.

An absent value (`messages.ABSENT`) never reaches a transform: the engine skips the
pipe, so "omit when absent" holds through any chain.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, Final


class TransformFailed(ValueError):
    """A value the transform cannot turn into its output.

    `path` is filled in on the way out by the object and list builders that the
    failing value sat in (`jobs[0].job_id`), so the reason names the field.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: tuple[str | int, ...] = ()

    def describe(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"{where.lstrip('.')}: {self.args[0]}" if where else str(self.args[0])


# RFC 3339 date-time (section 5.6); the offset is required, fractions are optional.
_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (H. Hinnant's algorithm): pure arithmetic, no datetime objects."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def rfc3339_to_epoch(text: str) -> int:
    """Whole seconds since the epoch; fractions dropped, any offset honoured."""
    if not isinstance(text, str):
        raise TransformFailed(f"not an RFC 3339 date-time: {text!r}")
    return parse_rfc3339_cached(text)


# Cached: legacy clients poll the same jobs, so the same timestamps come back again and
# again (a hit costs a fraction of a parse). Failures are not cached (exceptions aren't).
@functools.lru_cache(maxsize=8192)
def parse_rfc3339_cached(text: str) -> int:
    match = _RFC3339.match(text)
    if match is None:
        raise TransformFailed(f"not an RFC 3339 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (
        1 <= month <= 12
        and 1 <= day <= _MONTH_DAYS[month - 1] + leap
        and hour < 24
        and minute < 60
        and second <= 60
    ):
        raise TransformFailed(f"not a calendar date-time: {text!r}")
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    return seconds


def epoch_to_rfc3339(value: int) -> str:
    return datetime.fromtimestamp(_as_int(value), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TransformFailed(f"not an integer: {value!r}")
    return value


def escape_line(text: str) -> str:
    """One log message on one line: `\\` → `\\\\`, CR → `\\r`, LF → `\\n`."""
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TransformFailed(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        # Canonical decimals only: "007" would become 7, and 7 is written back as "7",
        # another identifier. Refusing keeps the mapping one-to-one both ways.
        if value[0] == "0" and len(value) > 1:
            raise TransformFailed(f"{value!r} is not a canonical decimal (leading zero)")
        return int(value)
    raise TransformFailed(f"not an integer: {value!r}")


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TransformFailed(f"not a scalar: {value!r}")


def _http_date(value: Any) -> str:
    epoch = rfc3339_to_epoch(value) if isinstance(value, str) else _as_int(value)
    return formatdate(epoch, usegmt=True)


def _values(value: Any) -> list[Any]:
    if not isinstance(value, Mapping):
        raise TransformFailed(f"not an object: {value!r}")
    return list(value.values())


def _sort(value: Any) -> list[Any]:
    try:
        return sorted(_as_list(value))
    except TypeError as exc:
        raise TransformFailed("cannot sort values of mixed types") from exc


def _unique(value: Any) -> list[Any]:
    # Order-preserving; JSON values may be unhashable, so compare by equality.
    out: list[Any] = []
    for item in _as_list(value):
        if item not in out:
            out.append(item)
    return out


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TransformFailed(f"not a list: {value!r}")
    return value


# Transforms that take no argument, by the name a translation file uses.
SIMPLE: Final[Mapping[str, Callable[[Any], Any]]] = {
    "to_int": _to_int,
    "to_str": _to_str,
    "rfc3339_to_epoch": rfc3339_to_epoch,
    "epoch_to_rfc3339": epoch_to_rfc3339,
    "http_date": _http_date,
    "escape_line": lambda v: escape_line(_expect_str(v)),
    "values": _values,
    "sort": _sort,
    "unique": _unique,
}

# What each simple transform yields, for the static checker.
SIMPLE_OUTPUT_TYPE: Final[Mapping[str, str | None]] = {
    "to_int": "integer",
    "to_str": "string",
    "rfc3339_to_epoch": "integer",
    "epoch_to_rfc3339": "string",
    "http_date": "string",
    "escape_line": "string",
    "values": "array",
    "sort": "array",
    "unique": "array",
}


def _expect_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TransformFailed(f"not a string: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Simple:
    name: str
    fn: Callable[[Any], Any]

    def apply(self, value: Any) -> Any:
        return self.fn(value)


@dataclass(frozen=True, slots=True)
class Template:
    """`run-{}`: the value's text put in place of the one `{}` (no format mini-language)."""

    prefix: str
    suffix: str

    def apply(self, value: Any) -> str:
        return f"{self.prefix}{_to_str(value)}{self.suffix}"


@dataclass(frozen=True, slots=True)
class StripPrefix:
    prefix: str

    def apply(self, value: Any) -> str:
        text = _expect_str(value)
        if not text.startswith(self.prefix):
            raise TransformFailed(f"{text!r} does not start with {self.prefix!r}")
        return text[len(self.prefix) :]


@dataclass(frozen=True, slots=True)
class EnumMap:
    """A total table: a value missing from it is an error, never passed through."""

    table: Mapping[Any, Any]

    def apply(self, value: Any) -> Any:
        try:
            return self.table[value]
        except (KeyError, TypeError):
            raise TransformFailed(f"{value!r} has no mapping") from None


@dataclass(frozen=True, slots=True)
class Buckets:
    """Numeric ranges to values: the first bucket whose `min` the value reaches wins."""

    bounds: tuple[tuple[float | None, Any], ...]  # sorted by min, descending; None = floor

    def apply(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TransformFailed(f"not a number: {value!r}")
        for low, out in self.bounds:
            if low is None or value >= low:
                return out
        raise TransformFailed(f"{value!r} falls below every bucket")


@dataclass(frozen=True, slots=True)
class Within:
    """`{within: {min: 1}}`: the number itself when inside the bounds, else a failure.

    The one way a rule says "this value cannot be carried": `run-0` is a valid /v2 id,
    but job 0 is not a Phase 1 job, so its answer is a deliberate 502 with the reason.
    """

    low: int | float | None
    high: int | float | None

    def apply(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TransformFailed(f"not a number: {value!r}")
        if self.low is not None and value < self.low:
            raise TransformFailed(f"{value!r} is below the minimum of {self.low}")
        if self.high is not None and value > self.high:
            raise TransformFailed(f"{value!r} is above the maximum of {self.high}")
        return value


@dataclass(frozen=True, slots=True)
class Pluck:
    field: str

    def apply(self, value: Any) -> list[Any]:
        out = []
        for item in _as_list(value):
            if not isinstance(item, Mapping) or self.field not in item:
                raise TransformFailed(f"an element has no {self.field!r}")
            out.append(item[self.field])
        return out


@dataclass(frozen=True, slots=True)
class Join:
    separator: str

    def apply(self, value: Any) -> str:
        return self.separator.join(_expect_str(item) for item in _as_list(value))
