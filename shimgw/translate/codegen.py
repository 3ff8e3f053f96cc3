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
from shimgw.translate.transforms import TransformFailed

Evaluator = Callable[[Mapping[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an object rule: its compiled closure, and how to inline it if simple."""

    name: str
    compiled: Evaluator  # the whole field, as compiler.py built it
    base: Evaluator  # the field's read alone (a non-dict inner value falls back to it)
    path: tuple[str, ...] | None  # `it.a` or `it.a.b`: inlined; None: call `compiled`
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
    lines = [f"    r = it.get({spec.path[0]!r}, ABSENT)"]
    if len(spec.path) == 2:
        lines.append(
            f"    r = r.get({spec.path[1]!r}, ABSENT) if type(r) is dict else b{index}(ctx, it)"
        )
    if spec.default is not ABSENT:
        namespace[f"d{index}"] = spec.default
    if spec.fns:
        call = "r"
        for step, fn in enumerate(spec.fns):
            namespace[f"f{index}_{step}"] = fn
            call = f"f{index}_{step}({call})"
        lines += [
            "    if r is not ABSENT:",
            "        try:",
            f"            r = {call}",
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
