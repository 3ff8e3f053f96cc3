"""What a value rule can produce: JSON Schema in, JSON Schema out, one pipe step at a time.

Theory of operation
-------------------
The static checker does not run rules on examples; it runs them on *schemas*.
A read (`from: it.priority`) produces the source schema of that field
(`{type: integer, minimum: 0, maximum: 100}`), and each pipe step maps the
schema of its input to the schema of its output: `buckets` of an integer in
0..100 can produce `high`, `normal` or `low`; `strip_prefix: run-` of the pattern
`^run-[0-9]{1,18}$` produces `^[0-9]{1,18}$`; `to_int` of that produces an
integer in 0..999999999999999999; `template: run-{}` of an integer in 1..N
produces `run-` and the canonical decimals of 1..N. A finite set of values
(`enum`) is pushed through the real transform, so maps and constants are
exact.

Three annotations ride along in the produced schema (they never reach a
validator): `x-words`, how both schemas' authors would name the thing
(`phase2.yaml Run.priority`); `x-absent`, whether it can be missing (an
optional field read without a default); `x-extra`, single values joined to the
schema by a `default` or a branch (`null` for `started`). `conform.py` holds a
produced schema against the target's.

A step that cannot apply to what flows in is reported as a problem here (a
string into `buckets` fails for every value); one that can fail for some
values (`to_int` on digits with leading zeros) is a deliberate failure the
engine turns into a 400 or 502 with the reason, and is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shimgw.translate import transforms as tf

Schema = Mapping[str, Any]
Sink = Callable[[str], None]  # takes one problem text

WORDS, ABSENT_KEY, EXTRA, DIGITS = "x-words", "x-absent", "x-extra", "x-digits"
ANNOTATIONS = (WORDS, ABSENT_KEY, EXTRA, DIGITS)
_MAX_VALUES = 64  # beyond this many known values, keep the type only
# rfc3339_to_epoch of years 0000..9999: what any RFC 3339 date-time can become.
EPOCH_RANGE = (-62167219200, 253402300799)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"


def types_of(schema: Schema) -> frozenset[str] | None:
    """The JSON types a schema admits; None when it names none (anything goes)."""
    if "enum" in schema:
        return frozenset(json_type(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind is not None:
        return frozenset(kind if isinstance(kind, list) else [kind])
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        found: set[str] = set()
        for branch in branches:
            inner = types_of(branch)
            if inner is None:
                return None
            found |= inner
        return frozenset(found)
    return None


def words(schema: Schema) -> str:
    return str(schema.get(WORDS, "the value"))


def produced(schema: Schema, said: str, *, absent: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k not in (WORDS, ABSENT_KEY)}
    out[WORDS] = said
    if absent:
        out[ABSENT_KEY] = True
    return out


def with_default(schema: Schema, default: Any) -> dict[str, Any]:
    """A value with `default: D`: never absent; D joins what it can be."""
    out = dict(schema)
    out.pop(ABSENT_KEY, None)
    if "enum" in out:
        if default not in out["enum"]:
            out["enum"] = [*out["enum"], default]
    else:
        out[EXTRA] = [*out.get(EXTRA, []), default]
    return out


def union(a: Schema, b: Schema, said: str) -> dict[str, Any]:
    """Either of two produced schemas (the branches of an `if`)."""
    absent = bool(a.get(ABSENT_KEY) or b.get(ABSENT_KEY))
    if "enum" in a and "enum" in b:
        return produced(
            {"enum": [*a["enum"], *(v for v in b["enum"] if v not in a["enum"])]},
            said,
            absent=absent,
        )
    if "enum" in b or "enum" in a:
        known, other = (a, b) if "enum" in a else (b, a)
        out = produced(other, said, absent=absent)
        out[EXTRA] = [*other.get(EXTRA, []), *known["enum"]]
        return out
    ta, tb = types_of(a), types_of(b)
    kinds = sorted(ta | tb) if ta is not None and tb is not None else None
    return produced({"type": kinds} if kinds else {}, said, absent=absent)


def _values(schema: Schema) -> list[Any] | None:
    values = schema.get("enum")
    return list(values) if values is not None and len(values) <= _MAX_VALUES else None


def concrete(step: Any, schema: Schema, sink: Sink, said: str) -> dict[str, Any] | None:
    """Push a finite set of known values through the real transform."""
    values = _values(schema)
    if values is None:
        return None
    out: list[Any] = []
    for value in values:
        try:
            result = step.apply(value)
        except tf.TransformFailed as exc:
            if isinstance(step, tf.EnumMap):
                continue  # coverage is reported by the map check itself
            sink(f"fails for {words(schema)} value {value!r}: {exc}")
            continue
        item = list(result) if isinstance(result, tuple) else result
        if item not in out:
            out.append(item)
    if any(isinstance(v, list) for v in out):
        flat = [x for v in out for x in v]
        return produced(
            {"type": "array", "items": {"enum": flat}, "maxItems": max(len(v) for v in out)},
            said,
        )
    return produced({"enum": out}, said)


def _is_number(schema: Schema) -> bool:
    kinds = types_of(schema)
    return kinds is not None and bool(kinds) and kinds <= {"integer", "number"}


def _need(schema: Schema, kinds: set[str], step: str, sink: Sink) -> bool:
    """Whether every value can be handed to the step; else one problem naming both."""
    found = types_of(schema)
    if found is None:
        return True  # an unconstrained source: the engine fails the odd value at run time
    bad = sorted(found - kinds - ({"integer"} if "number" in kinds else set()))
    if bad:
        sink(f"{step} needs {' or '.join(sorted(kinds))}, but {words(schema)} is {bad[0]}")
        return False
    return True


_DIGIT_PATTERN = re.compile(r"^\^\[0-9\]\{(\d+),(\d+)\}\$$|^\^\[0-9\]\+\$$")


def digits_bounds(pattern: str) -> tuple[int, int | None] | None:
    """`^[0-9]{1,18}$` → (0, 10**18 - 1); `^[0-9]+$` → (0, None)."""
    match = _DIGIT_PATTERN.match(pattern)
    if match is None:
        return None
    if match.group(2) is None:
        return 0, None
    return 0, 10 ** int(match.group(2)) - 1


def simple(step: tf.Simple, schema: Schema, sink: Sink, said: str) -> dict[str, Any]:
    name = step.name
    if name == "to_int":
        if not _need(schema, {"string", "integer"}, "to_int", sink):
            return produced({"type": "integer"}, said)
        if types_of(schema) == frozenset({"integer"}):
            return produced(schema, said)
        bounds = digits_bounds(str(schema.get("pattern", "")))
        if bounds is None:
            return produced({"type": "integer"}, said)
        low, high = bounds
        out: dict[str, Any] = {"type": "integer", "minimum": low}
        if high is not None:
            out["maximum"] = high
        return produced(out, said)
    if name == "rfc3339_to_epoch":
        _need(schema, {"string"}, name, sink)
        return produced(
            {"type": "integer", "minimum": EPOCH_RANGE[0], "maximum": EPOCH_RANGE[1]}, said
        )
    if name in ("epoch_to_rfc3339", "http_date", "to_str", "escape_line"):
        accepted = {
            "epoch_to_rfc3339": {"integer"},
            "http_date": {"string", "integer"},
            "to_str": {"string", "number", "boolean"},
            "escape_line": {"string"},
        }[name]
        _need(schema, accepted, name, sink)
        return produced({"type": "string"}, said)
    if name == "values":
        _need(schema, {"object"}, name, sink)
        extra = schema.get("additionalProperties", {})
        return produced({"type": "array", "items": extra if isinstance(extra, dict) else {}}, said)
    # sort, unique: the same list (unique: without repeats)
    _need(schema, {"array"}, name, sink)
    out = produced(schema, said)
    if name == "unique":
        out["uniqueItems"] = True
    return out


def plain_step(step: Any, schema: Schema, sink: Sink, said: str) -> dict[str, Any]:
    """Every step that is a plain value transform (no rule inside)."""
    known = concrete(step, schema, sink, said)
    if known is not None:
        return known
    if isinstance(step, tf.Simple):
        return simple(step, schema, sink, said)
    if isinstance(step, tf.Buckets):
        return _buckets(step, schema, sink, said)
    if isinstance(step, tf.Within):
        _need(schema, {"number"}, "within", sink)
        out = produced(schema, said)
        if step.low is not None:
            out["minimum"] = max(step.low, schema.get("minimum", step.low))
        if step.high is not None:
            out["maximum"] = min(step.high, schema.get("maximum", step.high))
        return out
    if isinstance(step, tf.Template):
        _need(schema, {"string", "number", "boolean"}, "template", sink)
        if (
            types_of(schema) == frozenset({"integer"})
            and "minimum" in schema
            and "maximum" in schema
        ):
            span = (step.prefix, step.suffix, schema["minimum"], schema["maximum"])
            return produced({"type": "string", DIGITS: span}, said)
        return produced({"type": "string"}, said)
    if isinstance(step, tf.StripPrefix):
        _need(schema, {"string"}, "strip_prefix", sink)
        pattern = str(schema.get("pattern", ""))
        lead = "^" + re.escape(step.prefix)
        if pattern.startswith(lead):
            return produced({"type": "string", "pattern": "^" + pattern[len(lead) :]}, said)
        if pattern.startswith("^" + step.prefix):  # prefix without regex metacharacters
            return produced(
                {"type": "string", "pattern": "^" + pattern[len(step.prefix) + 1 :]}, said
            )
        return produced({"type": "string"}, said)
    if isinstance(step, tf.EnumMap):
        outs = [o for v in step.table.values() for o in (v if isinstance(v, tuple) else (v,))]
        if any(isinstance(v, tuple) for v in step.table.values()):
            longest = max(len(v) if isinstance(v, tuple) else 1 for v in step.table.values())
            return produced({"type": "array", "items": {"enum": outs}, "maxItems": longest}, said)
        return produced({"enum": list(dict.fromkeys(outs))}, said)
    if isinstance(step, tf.Join):
        _need(schema, {"array"}, "join", sink)
        return produced({"type": "string"}, said)
    return produced({}, said)


def _buckets(step: tf.Buckets, schema: Schema, sink: Sink, said: str) -> dict[str, Any]:
    if not _need(schema, {"number"}, "buckets", sink):
        return produced({"enum": list(dict.fromkeys(v for _, v in step.bounds))}, said)
    low, high = schema.get("minimum"), schema.get("maximum")
    floor = step.bounds[-1][0]
    if floor is not None and (low is None or low < floor):
        sink(
            f"buckets: {words(schema)} can be "
            f"{low if low is not None else 'any number'} below the lowest min {floor}"
        )
    reachable = []
    for i, (start, value) in enumerate(step.bounds):
        upper = step.bounds[i - 1][0] if i else None  # values at or above it took earlier ones
        if high is not None and start is not None and start > high:
            continue
        if low is not None and upper is not None and upper <= low:
            continue
        if value not in reachable:
            reachable.append(value)
    return produced({"enum": reachable}, said)


def number_bounds(schema: Schema) -> tuple[Any, Any]:
    """(minimum, maximum) of a numeric schema, from its bounds or its known values."""
    values = schema.get("enum")
    if values and all(json_type(v) in ("integer", "number") for v in values):
        return min(values), max(values)
    return schema.get("minimum"), schema.get("maximum")


def arith(op: str, left: Schema, right: Schema, said: str) -> dict[str, Any]:
    kinds = {*(types_of(left) or {"number"}), *(types_of(right) or {"number"})}
    kind = "integer" if kinds == {"integer"} else "number"
    out: dict[str, Any] = {"type": kind}
    a1, a2 = number_bounds(left)
    b1, b2 = number_bounds(right)
    if a1 is not None and a2 is not None and b1 is not None and b2 is not None:
        if op == "add":
            out["minimum"], out["maximum"] = a1 + b1, a2 + b2
        elif op == "sub":
            out["minimum"], out["maximum"] = a1 - b2, a2 - b1
        else:
            corners = [a1 * b1, a1 * b2, a2 * b1, a2 * b2]
            out["minimum"], out["maximum"] = min(corners), max(corners)
    return produced(out, said)
