"""Walking rule trees with both contracts beside them: the engine of `shimgw check`.

A `Walker` evaluates a rule *abstractly*: every read yields the source
schema of what it reads (with how its contract names it and whether it can be
missing), every pipe step maps that schema on (`infer.py`), and a write holds
the result against the target schema (`conform.py`). Object literals are
walked field by field, so a problem names the rule path inside the object and
a required target field that is not written, or written from an optional
source without a default, is found.

Rules inside a shape are reported where the shape is defined
(`_common.yaml: shapes.job.priority`), with the operations that use it
(`via getJob.yaml: responses.200.body`): one drift, one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs

from shimgw.contracts.document import Contract
from shimgw.messages import ABSENT
from shimgw.translate import infer
from shimgw.translate import transforms as tf
from shimgw.translate.conform import Target, conform
from shimgw.translate.infer import ABSENT_KEY, WORDS, produced, words
from shimgw.translate.nodes import (
    Apply,
    Arith,
    Concat,
    Cond,
    Const,
    Contains,
    Each,
    Eq,
    Filter,
    From,
    If,
    Not,
    Obj,
    Present,
    Value,
)

ANY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    problem: str
    via: tuple[str, ...] = ()
    warning: bool = False

    def __str__(self) -> str:
        via = f" (via {', '.join(self.via)})" if self.via else ""
        return f"{self.where}: {self.problem}{via}"


@dataclass(slots=True)
class Report:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    coverage: list[tuple[str, str, str]] = field(default_factory=list)  # op, state, detail

    def add(self, found: Problem) -> None:
        """One line per drift: the same finding reached through several operations
        (a shared shape) is one line listing them."""
        bucket = self.warnings if found.warning else self.problems
        for i, seen in enumerate(bucket):
            if (seen.where, seen.problem) == (found.where, found.problem):
                extra = tuple(v for v in found.via if v not in seen.via)
                bucket[i] = Problem(seen.where, seen.problem, seen.via + extra, seen.warning)
                return
        bucket.append(found)


class Schemas:
    """Schema navigation over one contract (refs and allOf followed), with its words."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.file = contract.source.name or contract.name

    def flat(self, schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
        schema = self.contract.resolve(schema)
        if "allOf" not in schema:
            return schema
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        props = dict(merged.get("properties", {}))
        required = list(merged.get("required", []))
        for part in schema["allOf"]:
            part = self.flat(part)
            props.update(part.get("properties", {}))
            required += part.get("required", [])
            for key, value in part.items():
                merged.setdefault(key, value)
        merged["properties"], merged["required"] = props, required
        return merged

    def named(self, raw: Mapping[str, Any] | None, fallback: str) -> str:
        """`phase2.yaml Run` for a reference to a named schema, else the fallback."""
        ref = str((raw or {}).get("$ref", ""))
        return f"{self.file} {ref.rsplit('/', 1)[-1]}" if ref else fallback

    def child(
        self, schema: Mapping[str, Any], name: str, said: str
    ) -> tuple[Mapping[str, Any] | None, str, bool]:
        """Field `name`: its schema (`ANY` unknown, None forbidden), words, optional."""
        schema = self.flat(schema)
        if not schema:
            return ANY, f"{said}.{name}", True
        optional = name not in schema.get("required", [])
        props = schema.get("properties", {})
        if name in props:
            return self.flat(props[name]), self.named(props[name], f"{said}.{name}"), optional
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return None, f"{said}.{name}", optional
        found = self.flat(extra) if isinstance(extra, dict) else ANY
        return found, self.named(extra if isinstance(extra, dict) else None, f"{said}.{name}"), True

    def valid(self, schema: Mapping[str, Any], value: Any) -> bool:
        return bool(jsonschema_rs.validator_for(self.contract.compilable(schema)).is_valid(value))


@dataclass(frozen=True, slots=True)
class Root:
    schema: Mapping[str, Any]
    words: str


class Walker:
    def __init__(
        self,
        report: Report,
        src: Schemas,
        dst: Schemas,
        roots: Mapping[str, Root],
        *,
        shapes: Mapping[str, str] | None = None,
        refused_with_400: bool = False,
    ) -> None:
        self.report, self.src, self.dst, self.roots = report, src, dst, roots
        self.shape_files = shapes or {}
        self.via: tuple[str, ...] = ()
        self.target = Target(dst.flat, src.flat, dst.valid, refused_with_400)

    def problem(self, where: str, text: str, warning: bool = False) -> None:
        self.report.add(Problem(where, text, self.via, warning))

    # --- what a value yields ---------------------------------------------------------------

    def infer(self, value: Value, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        schema = self._base(value.base, it, where)
        for i, step in enumerate(value.pipe):
            absent = schema.get(ABSENT_KEY, False)
            schema = dict(self._step(step, schema, it, f"{where}.pipe[{i}]"))
            if absent:
                schema[ABSENT_KEY] = True
        if value.default is not ABSENT and schema.get(ABSENT_KEY):
            schema = infer.with_default(schema, value.default)
        return schema

    def _base(self, base: Any, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        if isinstance(base, From):
            return self._read(base, it, where)
        if isinstance(base, Const):
            return produced({"enum": [base.value]}, f"the constant {base.value!r}")
        if isinstance(base, Obj):
            fields = {n: self.infer(v, it, f"{where}.{n}") for n, v in base.fields}
            required = [n for n, s in fields.items() if not s.get(ABSENT_KEY)]
            return produced(
                {"type": "object", "properties": fields, "required": required},
                "the object",
                absent=bool(fields) and not required,
            )
        if isinstance(base, Concat):
            return self._concat(base, it, where)
        if isinstance(base, If):
            self._cond(base.cond, it, f"{where}.if")
            a = self.infer(base.then, it, f"{where}.then")
            b = self.infer(base.otherwise, it, f"{where}.else")
            return infer.union(a, b, f"{words(a)} or {words(b)}")
        if isinstance(base, Arith):
            left = self.infer(base.left, it, f"{where}.{base.op}[0]")
            right = self.infer(base.right, it, f"{where}.{base.op}[1]")
            out = infer.arith(base.op, left, right, f"{base.op} of {words(left)}, {words(right)}")
            if left.get(ABSENT_KEY) or right.get(ABSENT_KEY):
                out[ABSENT_KEY] = True
            return out
        return ANY

    def _concat(self, base: Concat, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        parts = [self.infer(p, it, f"{where}.concat[{i}]") for i, p in enumerate(base.parts)]
        said = " + ".join(words(p) for p in parts)
        absent = any(p.get(ABSENT_KEY) for p in parts)
        if all("enum" in p and len(p["enum"]) == 1 for p in parts):
            text = "".join(v if isinstance(v, str) else str(v) for p in parts for v in p["enum"])
            return produced({"enum": [text]}, said, absent=absent)
        out: dict[str, Any] = {"type": "string"}
        lows: list[int] = []
        highs: list[int | None] = []
        for p in parts:
            if "enum" in p and all(isinstance(v, str) for v in p["enum"]):
                lows.append(min(len(v) for v in p["enum"]))
                highs.append(max(len(v) for v in p["enum"]))
            else:
                lows.append(p.get("minLength", 0))
                highs.append(p.get("maxLength"))
        out["minLength"] = sum(lows)
        if all(h is not None for h in highs):
            out["maxLength"] = sum(h for h in highs if h is not None)
        return produced(out, said, absent=absent)

    def _read(self, node: From, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        if node.root == "it":
            schema: Mapping[str, Any] | None = it
            said = words(it) if WORDS in it else "the value"
        elif node.root == "header":
            return produced({"type": "string"}, f"header {node.path[0]}", absent=True)
        elif node.root in self.roots:
            schema, said = self.roots[node.root].schema, self.roots[node.root].words
        else:
            self.problem(where, f"`{node.root}` cannot be read here")
            return ANY
        navigator = self.dst if node.root == "request" else self.src
        walked, absent = [node.root], bool(schema and schema.get(ABSENT_KEY))
        for segment in node.path:
            walked.append(segment)
            schema, said, optional = navigator.child(schema or ANY, segment, said)
            absent = absent or optional
            if schema is None:
                self.problem(
                    where,
                    f"reads {'.'.join(walked)}, which the source schema does not have "
                    f"({said} is not in {navigator.file})",
                )
                return ANY
        return produced(navigator.flat(schema), said, absent=absent)

    def _step(
        self, step: Any, schema: Mapping[str, Any], it: Mapping[str, Any], where: str
    ) -> Mapping[str, Any]:
        said = f"{words(schema)} through {_step_name(step)}"
        if isinstance(step, tf.EnumMap):
            source = self.src.flat(schema).get("enum")
            if source is not None:
                missing = [v for v in source if v not in step.table]
                if missing:
                    self.problem(
                        where, f"map does not cover source values {missing} of {words(schema)}"
                    )
        if isinstance(step, tf.Pluck):
            elements = self.src.flat(self.src.flat(schema).get("items", ANY))
            picked, picked_words, _ = self.src.child(elements, step.field, f"{words(schema)}[]")
            if picked is None:
                self.problem(where, f"plucks {step.field!r}, which the elements do not have")
            return produced({"type": "array", "items": picked or ANY}, picked_words)
        if isinstance(step, Each):
            raw_items = self.src.flat(schema).get("items", ANY)
            items: Mapping[str, Any] = produced(
                self.src.flat(raw_items), self.src.named(raw_items, f"{words(schema)}[]")
            )
            for i, inner in enumerate(step.steps):
                items = self._step(inner, items, it, f"{where}.each[{i}]")
            return produced({"type": "array", "items": items}, words(items))
        if isinstance(step, Filter):
            elements = produced(self.src.flat(self.src.flat(schema).get("items", ANY)), said)
            self._cond(step.cond, elements, f"{where}.filter")
            return schema
        if isinstance(step, Apply):
            return self._apply(step, schema, where)
        return infer.plain_step(
            step,
            {**self.src.flat(schema), **_notes(schema)},
            lambda t: self.problem(where, t),
            said,
        )

    def _apply(self, step: Apply, schema: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        it = produced(self.src.flat(schema), words(schema))
        if step.shape is None:
            return self.infer(step.value, it, where)
        with self._in_shape(step.shape, where) as inner:
            return self.infer(step.value, it, inner)

    def _in_shape(self, shape: str, where: str) -> _ShapeScope:
        return _ShapeScope(self, shape, where)

    def _cond(self, cond: Cond, it: Mapping[str, Any], where: str) -> None:
        if isinstance(cond, Eq | Contains):
            pair = (cond.left, cond.right) if isinstance(cond, Eq) else (cond.haystack, cond.needle)
            for value in pair:
                self.infer(value, it, where)
        elif isinstance(cond, Present):
            self.infer(cond.value, it, where)
        elif isinstance(cond, Not):
            self._cond(cond.cond, it, where)
        else:
            for inner in cond.conds:
                self._cond(inner, it, where)

    # --- writing a value into a target schema --------------------------------------------

    def write(
        self,
        value: Value,
        target: Mapping[str, Any] | None,
        where: str,
        target_words: str,
        it: Mapping[str, Any] = ANY,
    ) -> Mapping[str, Any]:
        """Check `value` written into `target`; returns what it produces."""
        if target is None:
            self.problem(where, f"writes a field the target schema does not have ({target_words})")
            return ANY
        flat = self.dst.flat(target)
        if not value.pipe and isinstance(value.base, Obj):
            out = self._write_object(value.base, flat, where, target_words, it)
        else:
            final = self._final_shape(value, it, where)
            if final is not None:
                shape, inner_it, in_list = final
                items = self.dst.flat(flat.get("items", ANY)) if in_list else flat
                item_words = (
                    self.dst.named(flat.get("items"), f"{target_words}[]")
                    if in_list
                    else target_words
                )
                with self._in_shape(shape.shape or "", where) as inner:
                    self.write(shape.value, items, inner, item_words, inner_it)
                return ANY
            out = self.infer(value, it, where)
            for found in conform(out, flat, target_words, self.target):
                self.problem(where, found.text, found.warning)
        return out

    def _write_object(
        self, node: Obj, target: Mapping[str, Any], where: str, said: str, it: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        fields: dict[str, Any] = {}
        for name, field_value in node.fields:
            child, child_words, _ = (
                self.dst.child(target, name, said) if target else (ANY, "", True)
            )
            fields[name] = self.write(field_value, child, f"{where}.{name}", child_words, it)
        required = target.get("required", [])
        for name in required:
            if name not in fields:
                self.problem(where, f"does not write required field {name!r} of {said}")
            elif fields[name].get(ABSENT_KEY) and len(fields) > 1:
                self.problem(
                    f"{where}.{name}",
                    f"{words(fields[name])} is optional and the rule has no default; "
                    f"{said}.{name} is required",
                )
        present = [n for n, s in fields.items() if not s.get(ABSENT_KEY)]
        return produced({"type": "object"}, said, absent=bool(fields) and not present)

    def _final_shape(
        self, value: Value, it: Mapping[str, Any], where: str
    ) -> tuple[Apply, Mapping[str, Any], bool] | None:
        """A value that ends in a shape of an object literal, directly or as
        `each: [shape]` (then the bool is true: the object is each list item)."""
        if not value.pipe:
            return None
        last = value.pipe[-1]
        if isinstance(last, Each) and len(last.steps) == 1:
            last, in_list = last.steps[0], True
        else:
            in_list = isinstance(last, Each)
            if in_list:
                return None
        if not (isinstance(last, Apply) and isinstance(last.value.base, Obj)):
            return None
        if last.value.pipe:
            return None
        before = self.infer(Value(value.base, value.pipe[:-1]), it, where)
        flat = self.src.flat(before)
        if in_list:
            raw_items = flat.get("items", ANY)
            flat = produced(
                self.src.flat(raw_items), self.src.named(raw_items, f"{words(before)}[]")
            )
        else:
            flat = produced(flat, words(before))
        return last, flat, in_list


class _ShapeScope:
    """Inside a shape: report at its definition, remembering who used it."""

    def __init__(self, walker: Walker, shape: str, where: str) -> None:
        self.walker, self.shape, self.where = walker, shape, where
        self.saved: tuple[str, ...] = ()

    def __enter__(self) -> str:
        self.saved = self.walker.via
        if not self.shape:
            return self.where
        self.walker.via = self.saved or (self.where,)
        file = self.walker.shape_files.get(self.shape, "_common.yaml")
        return f"{file}: shapes.{self.shape}"

    def __exit__(self, *exc: object) -> None:
        self.walker.via = self.saved


def _notes(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k.startswith("x-")}


def _step_name(step: Any) -> str:
    if isinstance(step, tf.Simple):
        return step.name
    names = {
        tf.Template: "template",
        tf.StripPrefix: "strip_prefix",
        tf.EnumMap: "map",
        tf.Buckets: "buckets",
        tf.Within: "within",
        tf.Pluck: "pluck",
        tf.Join: "join",
        Each: "each",
        Filter: "filter",
    }
    if isinstance(step, Apply):
        return f"shape {step.shape}" if step.shape else "apply"
    return names.get(type(step), "a step")
