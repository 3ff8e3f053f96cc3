"""Object rules as generated Python: one function per object, fields read inline.

Theory of operation. A compiled object rule (compiler.py) is a loop over field
closures: per field a closure call for the read, one per value transform, and a
loop step. Most fields of a /v2 → Phase 1 answer are `it.<name>` or
`it.<a>.<b>` with a plain transform or two, so this module writes, once per
snapshot and per object rule, the source of one function that reads such fields
straight out of the dict and calls the transforms directly — as dataclasses and
attrs generate `__init__` — and compiles it. Any other field (a condition, a
concatenation, a nested object, a list step) calls its compiled closure from
that function, and an `it` that is not a dict goes to the closure version
whole, so the generated code only ever handles the simple case and every other
case keeps one implementation.

The common transforms are written out too (`_step_lines`): `to_int` of a
canonical decimal, `strip_prefix` that matches, `map` of a string key, `within`
and `buckets` of a number, `rfc3339_to_epoch` of a string. Each handles only
the exact-typed case its guard admits and returns what the transform would;
any other input, and so every failure, calls the transform itself, so its
message stays the one place a failure is worded.

Behaviour is the closure version's, field for field: an absent source gives the
default without running the transforms, a transform failure names the field
(TransformFailed.path), absent results are left out, and an object none of
whose fields is present is itself absent. Names reach the source only through
repr() and values only through the namespace, never as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf
from shimgw.translate.transforms import TransformFailed

Evaluator = Callable[[Mapping[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an object rule: its compiled closure, and how to inline it if simple."""

    name: str
    compiled: Evaluator  # the whole field, as compiler.py built it
    base: Evaluator  # the field's read alone (a non-dict inner value falls back to it)
    path: tuple[str, ...] | None  # `it.a`, `it.a.b`, ...: inlined; None: call `compiled`
    fns: tuple[Callable[[Any], Any], ...] = ()  # plain transforms, in order
    default: Any = ABSENT


def object_builder(fields: tuple[FieldSpec, ...], closure: Evaluator) -> Evaluator:
    """A generated function equal to `closure` (the loop over the same fields)."""
    namespace: dict[str, Any] = {
        "ABSENT": ABSENT,
        "TransformFailed": TransformFailed,
        "_slow": closure,
    }
    lines = ["def build(ctx, it):", "    if type(it) is not dict:", "        return _slow(ctx, it)"]
    lines.append("    out = {}")
    for index, spec in enumerate(fields):
        lines += _field_lines(index, spec, namespace)
    lines.append("    return out if out else ABSENT" if fields else "    return out")
    code = compile("\n".join(lines) + "\n", "<shimgw object rule>", "exec")
    exec(code, namespace)
    built: Evaluator = namespace["build"]
    return built


def _field_lines(index: int, spec: FieldSpec, namespace: dict[str, Any]) -> list[str]:
    name = repr(spec.name)
    if spec.path is None:
        namespace[f"v{index}"] = spec.compiled
        return [
            "    try:",
            f"        r = v{index}(ctx, it)",
            "    except TransformFailed as exc:",
            f"        exc.path = ({name}, *exc.path)",
            "        raise",
            f"    if r is not ABSENT: out[{name}] = r",
        ]
    namespace[f"b{index}"] = spec.base
    lines = [f"    r = it.get({spec.path[0]!r}, ABSENT)", *_deeper(spec.path, f"b{index}")]
    if spec.default is not ABSENT:
        namespace[f"d{index}"] = spec.default
    if spec.fns:
        lines += ["    if r is not ABSENT:", "        try:"]
        for step, fn in enumerate(spec.fns):
            namespace[f"f{index}_{step}"] = fn
            lines += [
                f"            {line}" for line in _step_lines(f"{index}_{step}", fn, namespace)
            ]
        lines += [
            "        except TransformFailed as exc:",
            f"            exc.path = ({name}, *exc.path)",
            "            raise",
        ]
        if spec.default is not ABSENT:
            lines += ["    else:", f"        r = d{index}"]
    elif spec.default is not ABSENT:
        lines.append(f"    if r is ABSENT: r = d{index}")
    lines.append(f"    if r is not ABSENT: out[{name}] = r")
    return lines


def _deeper(path: tuple[str, ...], fallback: str) -> list[str]:
    """Reads past the first segment, every inner value a dict; else the closure's read.

    An absent first segment (an optional block the answer leaves out: `result`,
    `notification`) is absent all the way down, as the closure's walk finds: said here,
    so the common case never pays for the closure's call and loop."""
    if len(path) == 1:
        return []
    slow = f"ABSENT if r is ABSENT else {fallback}(ctx, it)"
    if len(path) == 2:
        return [f"    r = r.get({path[1]!r}, ABSENT) if type(r) is dict else {slow}"]
    tests, value = ["type(r) is dict"], "r"
    for depth, key in enumerate(path[1:-1]):
        tests.append(f"type(q{depth} := {value}.get({key!r}, ABSENT)) is dict")
        value = f"q{depth}"
    return [
        f"    if {' and '.join(tests)}: r = {value}.get({path[-1]!r}, ABSENT)",
        f"    else: r = {slow}",
    ]


def _step_lines(suffix: str, fn: Callable[[Any], Any], namespace: dict[str, Any]) -> list[str]:
    """One transform on `r`: its common case written out, everything else (and every failure,
    so the message is the transform's own) by calling it. Each case below returns exactly what
    the transform returns for the inputs its guard lets through."""
    call = f"r = f{suffix}(r)"
    owner, method = getattr(fn, "__self__", None), getattr(fn, "__func__", None)
    if fn is tf.SIMPLE["to_int"]:  # canonical ASCII decimals (tf._to_int)
        return [
            'if type(r) is str and r.isascii() and r.isdigit() and (r[0] != "0" or len(r) == 1):',
            "    r = int(r)",
            f"elif type(r) is not int: {call}",
        ]
    if fn is tf.SIMPLE["rfc3339_to_epoch"]:  # the cached parse, minus the type check's frame
        namespace["_rfc3339"] = tf.parse_rfc3339_cached
        return [f"r = _rfc3339(r) if type(r) is str else f{suffix}(r)"]
    if isinstance(owner, tf.StripPrefix) and method is tf.StripPrefix.apply:
        prefix = owner.prefix
        return [
            f"r = r[{len(prefix)}:] if type(r) is str and r.startswith({prefix!r}) "
            f"else f{suffix}(r)"
        ]
    if isinstance(owner, tf.EnumMap) and method is tf.EnumMap.apply:
        namespace[f"t{suffix}"], namespace["_MISS"] = owner.table, _MISS
        return [
            f"m = t{suffix}.get(r, _MISS) if type(r) is str else _MISS",
            f"r = f{suffix}(r) if m is _MISS else m",
        ]
    if isinstance(owner, tf.Buckets) and method is tf.Buckets.apply:
        # The first bucket the number reaches, as a chain of conditionals; past the last
        # (no floor) the call raises the transform's own failure.
        chain = f"f{suffix}(r)"
        for step, (low, out) in reversed(list(enumerate(owner.bounds))):
            namespace[f"o{suffix}_{step}"] = out
            if low is None:
                chain = f"o{suffix}_{step}"
            else:
                namespace[f"m{suffix}_{step}"] = low
                chain = f"o{suffix}_{step} if r >= m{suffix}_{step} else ({chain})"
        return [f"r = ({chain}) if type(r) is int or type(r) is float else f{suffix}(r)"]
    if isinstance(owner, tf.Within) and method is tf.Within.apply:
        tests = ["type(r) is int"]
        if owner.low is not None:
            namespace[f"lo{suffix}"] = owner.low
            tests.append(f"r >= lo{suffix}")
        if owner.high is not None:
            namespace[f"hi{suffix}"] = owner.high
            tests.append(f"r <= hi{suffix}")
        return [f"if not ({' and '.join(tests)}): {call}"]
    return [call]


_MISS = object()  # not in a `map` table (its values may be anything, None included)
