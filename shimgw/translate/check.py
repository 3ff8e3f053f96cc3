"""Static checks of the translations against both contracts (`shimgw check`).

Run at every snapshot build and by `shimgw check` in CI. A rule is walked
with the schema of what it reads beside it, so the checker can say:
- every target operationId exists;
- every field a rule reads exists in the source schema;
- every field it writes exists in the target schema, and every required
  target field is written;
- every enum map covers every source value and yields only target values
  (bucket outputs and constants likewise);
- every /v2 success status of the target has a response rule.
Schemas that allow anything (`{}`) are trusted, not guessed at.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs

from shimgw.contracts.document import Contract, OperationSpec
from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf
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
    OperationRules,
    Present,
    Translations,
    Value,
)

ANY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(slots=True)
class Report:
    problems: list[Problem] = field(default_factory=list)
    coverage: list[tuple[str, str, str]] = field(default_factory=list)  # op, state, detail


class _Schemas:
    """Schema navigation over one contract (refs and allOf followed)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

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

    def child(self, schema: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
        """The schema of field `name`, `ANY` when unknown, None when the schema forbids it."""
        schema = self.flat(schema)
        if not schema:
            return ANY
        props = schema.get("properties", {})
        if name in props:
            return self.flat(props[name])
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return None
        return self.flat(extra) if isinstance(extra, dict) else ANY

    def enum(self, schema: Mapping[str, Any]) -> list[Any] | None:
        schema = self.flat(schema)
        if "enum" in schema:
            return list(schema["enum"])
        if "const" in schema:
            return [schema["const"]]
        return None


class _Walker:
    def __init__(
        self, report: Report, src: _Schemas, dst: _Schemas, roots: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.report, self.src, self.dst, self.roots = report, src, dst, roots

    def problem(self, where: str, text: str) -> None:
        self.report.problems.append(Problem(where, text))

    # What a value yields, as a schema (reads are checked on the way).
    def infer(self, value: Value, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        schema = self._base(value.base, it, where)
        for i, step in enumerate(value.pipe):
            schema = self._step(step, schema, it, f"{where}.pipe[{i}]")
        return schema

    def _base(self, base: Any, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        if isinstance(base, From):
            return self._read(base, it, where)
        if isinstance(base, Const):
            return {"enum": [base.value]}
        if isinstance(base, Obj):
            return {
                "type": "object",
                "properties": {n: self.infer(v, it, f"{where}.object.{n}") for n, v in base.fields},
            }
        if isinstance(base, Concat):
            for i, part in enumerate(base.parts):
                self.infer(part, it, f"{where}.concat[{i}]")
            return {"type": "string"}
        if isinstance(base, If):
            self._cond(base.cond, it, f"{where}.if")
            a, b = (
                self.infer(base.then, it, f"{where}.then"),
                self.infer(base.otherwise, it, f"{where}.else"),
            )
            if "enum" in a and "enum" in b:
                return {"enum": [*a["enum"], *b["enum"]]}
            return ANY
        if isinstance(base, Arith):
            self.infer(base.left, it, where)
            self.infer(base.right, it, where)
            return {"type": "number"}
        return ANY

    def _read(self, node: From, it: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        if node.root == "it":
            schema: Mapping[str, Any] | None = it
        elif node.root == "header":
            return {"type": "string"}
        elif node.root in self.roots:
            schema = self.roots[node.root]
        else:
            self.problem(where, f"`{node.root}` cannot be read here")
            return ANY
        navigator = self.dst if node.root == "request" else self.src
        walked = [node.root]
        for segment in node.path:
            walked.append(segment)
            schema = navigator.child(schema or ANY, segment)
            if schema is None:
                self.problem(
                    where, f"reads {'.'.join(walked)}, which the source schema does not have"
                )
                return ANY
        return schema or ANY

    def _step(
        self, step: Any, schema: Mapping[str, Any], it: Mapping[str, Any], where: str
    ) -> Mapping[str, Any]:
        if isinstance(step, tf.EnumMap):
            source = self.src.enum(schema)
            if source is not None:
                missing = [v for v in source if v not in step.table]
                if missing:
                    self.problem(where, f"map does not cover source values {missing}")
            outs = [o for v in step.table.values() for o in (v if isinstance(v, tuple) else (v,))]
            if any(isinstance(v, tuple) for v in step.table.values()):
                return {"type": "array", "items": {"enum": outs}}
            return {"enum": outs}
        if isinstance(step, tf.Buckets):
            return {"enum": [value for _, value in step.bounds]}
        if isinstance(step, tf.Simple):
            kind = tf.SIMPLE_OUTPUT_TYPE.get(step.name)
            if step.name in ("sort", "unique"):
                return schema
            return {"type": kind} if kind else ANY
        if isinstance(step, tf.Template | tf.StripPrefix | tf.Join):
            return {"type": "string"}
        if isinstance(step, tf.Pluck):
            picked = self.src.child(self.src.flat(schema).get("items", ANY), step.field)
            if picked is None:
                self.problem(where, f"plucks {step.field!r}, which the elements do not have")
            return {"type": "array", "items": picked or ANY}
        if isinstance(step, Each):
            items: Mapping[str, Any] = self.src.flat(schema).get("items", ANY)
            for i, inner in enumerate(step.steps):
                items = self._step(inner, items, it, f"{where}.each[{i}]")
            return {"type": "array", "items": items}
        if isinstance(step, Filter):
            self._cond(step.cond, self.src.flat(schema).get("items", ANY), f"{where}.filter")
            return schema
        if isinstance(step, Apply):
            return self.infer(step.value, self.src.flat(schema), where)
        return ANY

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

    # Writing a value into a target schema.
    def write(
        self,
        value: Value,
        target: Mapping[str, Any] | None,
        where: str,
        it: Mapping[str, Any] = ANY,
    ) -> None:
        if target is None:
            self.problem(where, "writes a field the target schema does not have")
            return
        target = self.dst.flat(target)
        final = self._final(value, it, where)
        if final is None:
            self._check_values(self.infer(value, it, where), target, where)
        else:
            node, inner_it, in_list = final
            if in_list:
                target = self.dst.flat(target.get("items", ANY))
            for name, field_value in node.fields:
                self.write(
                    field_value,
                    self.dst.child(target, name) if target else ANY,
                    f"{where}.{name}",
                    inner_it,
                )
            names = {n for n, _ in node.fields}
            for name in target.get("required", []):
                if name not in names:
                    self.problem(where, f"does not write required field {name!r}")
        if value.default is not ABSENT:
            self._check_values({"enum": [value.default]}, target, f"{where}.default")

    def _check_values(
        self, produced: Mapping[str, Any], target: Mapping[str, Any], where: str
    ) -> None:
        target = self.dst.flat(target)
        if produced.get("type") == "array" and target.get("type") == "array":
            produced, target = produced.get("items", ANY), self.dst.flat(target.get("items", ANY))
        values = produced.get("enum")
        if values is None or not target:
            return
        allowed = self.dst.enum(target)
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                self.problem(
                    where, f"yields {bad}, which the target does not allow (allowed: {allowed})"
                )
            return
        # No enum to compare with: hold each known value to the whole target schema.
        validator = jsonschema_rs.validator_for(self.dst.contract.compilable(target))
        bad = [v for v in values if not validator.is_valid(v)]
        if bad:
            self.problem(where, f"yields {bad}, which the target schema rejects")

    def _final(
        self, value: Value, it: Mapping[str, Any], where: str
    ) -> tuple[Obj, Mapping[str, Any], bool] | None:
        """The object literal a value ends in, directly, through a final shape, or through
        a final `each: [shape]` (then the bool is true: the object is each list item)."""
        if not value.pipe:
            return (value.base, it, False) if isinstance(value.base, Obj) else None
        last = value.pipe[-1]
        before = Value(value.base, value.pipe[:-1])
        if isinstance(last, Apply) and isinstance(last.value.base, Obj) and not last.value.pipe:
            return last.value.base, self.src.flat(self.infer(before, it, where)), False
        if (
            isinstance(last, Each)
            and len(last.steps) == 1
            and isinstance(last.steps[0], Apply)
            and isinstance(last.steps[0].value.base, Obj)
            and not last.steps[0].value.pipe
        ):
            items = self.src.flat(self.infer(before, it, where)).get("items", ANY)
            return last.steps[0].value.base, self.src.flat(items), True
        return None


def _first_schema(content: Mapping[str, Mapping[str, Any] | None]) -> Mapping[str, Any]:
    for schema in content.values():
        return schema or ANY
    return ANY


def _request_roots(op: OperationSpec, contract: Contract) -> dict[str, Mapping[str, Any]]:
    roots: dict[str, Mapping[str, Any]] = {}
    for location in ("path", "query"):
        roots[location] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {p.name: p.schema for p in op.params if p.location == location},
        }
    roots["body"] = (
        _first_schema(op.body) if op.body else {"type": "object", "additionalProperties": False}
    )
    return roots


def check_translations(translations: Translations, phase1: Contract, phase2: Contract) -> Report:
    report = Report()
    p1, p2 = _Schemas(phase1), _Schemas(phase2)
    for op_id in phase1.operations:
        rules = translations.operations.get(op_id)
        if rules is None:
            report.coverage.append((op_id, "missing", "no translation"))
            report.problems.append(Problem(op_id, "phase1.yaml operation has no translation"))
        elif rules.local is not None:
            report.coverage.append(
                (op_id, "answered locally", f"{rules.local.status} ({rules.source})")
            )
        else:
            report.coverage.append((op_id, "translated", f"→ {rules.target} ({rules.source})"))
    for op_id, rules in translations.operations.items():
        source = phase1.operations.get(op_id)
        if source is None:
            report.problems.append(
                Problem(
                    f"{rules.source}: operation", f"{op_id!r} is not an operationId of phase1.yaml"
                )
            )
            continue
        if rules.target is None:
            continue
        target = phase2.operations.get(rules.target)
        if target is None:
            report.problems.append(
                Problem(
                    f"{rules.source}: target",
                    f"{rules.target!r} is not an operationId of phase2.yaml",
                )
            )
            continue
        for problem in _check_operation(rules, source, target, phase1, phase2, p1, p2, report):
            report.problems.append(problem)
    report.problems.extend(_check_error_table(translations, phase1))
    for op_id, rules in translations.operations.items():
        source = phase1.operations.get(op_id)
        if source is not None:  # header rules read plain data too: hold them to the schemas
            walker = _Walker(report, p1, p2, _request_roots(source, phase1))
            for name, value in (*translations.every_call.headers, *rules.request.headers):
                walker.infer(value, ANY, f"{rules.source}: request.headers.{name}")
            for name, value in rules.local.headers if rules.local else ():
                walker.infer(value, ANY, f"{rules.source}: local.headers.{name}")
    return report


# Headers the edge itself sets on every call or answer; rules need not write them.
_EDGE_HEADERS = frozenset({"x-correlation-id", "traceparent", "content-type", "x-request-id"})


def _check_error_table(translations: Translations, phase1: Contract) -> Iterator[Problem]:
    """The status table's targets are statuses Phase 1 promises somewhere, and every header
    a promised Phase 1 error status requires (Retry-After on 429) is kept from the /v2 answer."""
    errors = translations.errors
    where = "errors"
    promised_anywhere = set().union(*(op.promised_statuses for op in phase1.operations.values()))
    mapped = dict(errors.status)
    for v2_status, p1_status in (*mapped.items(), (499, errors.other_4xx), (599, errors.other_5xx)):
        if p1_status not in promised_anywhere:
            yield Problem(
                f"{where}.status.{v2_status}",
                f"maps to {p1_status}, which no Phase 1 operation promises",
            )
    for v2_status, p1_status in mapped.items():
        kept = {h.lower() for h in errors.keep_headers.get(v2_status, ())}
        needed = set()
        for op in phase1.operations.values():
            answer = op.responses.get(str(p1_status))
            if answer is not None:
                needed |= {
                    h.name
                    for h in answer.headers
                    if h.required and h.name.lower() not in _EDGE_HEADERS
                }
        for header in sorted(needed):
            if header.lower() not in kept:
                yield Problem(
                    f"{where}.keep_headers.{v2_status}",
                    f"Phase 1 {p1_status} answers require {header}; keep it from the /v2 answer",
                )


def _check_operation(
    rules: OperationRules,
    source: OperationSpec,
    target: OperationSpec,
    phase1: Contract,
    phase2: Contract,
    p1: _Schemas,
    p2: _Schemas,
    report: Report,
) -> Iterator[Problem]:
    src = rules.source
    walker = _Walker(report, p1, p2, _request_roots(source, phase1))
    req = rules.request
    for location, fields in (("path", req.path), ("query", req.query)):
        written = {name for name, _ in fields}
        for name, value in fields:
            param = target.param(location, name)
            where = f"{src}: request.{location}.{name}"
            if param is None:
                yield Problem(where, f"{rules.target} has no {location} parameter {name!r}")
                continue
            walker.write(value, param.schema, where)
        for param in target.params:
            if param.location == location and param.required and param.name not in written:
                yield Problem(
                    f"{src}: request.{location}",
                    f"required /v2 {location} parameter {param.name!r} is not written",
                )
    written_headers = {name.lower() for name, _ in req.headers} | _EDGE_HEADERS | {"authorization"}
    for param in target.params:
        if (
            param.location == "header"
            and param.required
            and (param.name.lower() not in written_headers)
        ):
            yield Problem(
                f"{src}: request.headers", f"required /v2 header {param.name!r} is not written"
            )
    if req.body is not None:
        if not target.body:
            yield Problem(f"{src}: request.body", f"{rules.target} takes no body")
        else:
            walker.write(req.body, next(iter(target.body.values())), f"{src}: request.body")
    elif target.body_required:
        yield Problem(f"{src}: request", f"{rules.target} requires a body; none is written")
    for v2_status, rule in rules.responses.items():
        where = f"{src}: responses.{v2_status}"
        answer = target.response_for(v2_status)
        if answer is None:
            yield Problem(where, f"{rules.target} never answers {v2_status}")
            continue
        promised = source.responses.get(str(rule.status))
        if promised is None:
            yield Problem(f"{where}.status", f"{rules.operation} does not promise {rule.status}")
            continue
        roots = {
            "body": _first_schema(answer.content),
            "request": {"type": "object", "properties": _request_roots(source, phase1)},
        }
        back = _Walker(report, p2, p1, roots)
        for name, value in rule.headers:
            back.infer(value, ANY, f"{where}.headers.{name}")
        if rule.body is not None:
            schema = _first_schema(promised.content)
            if not promised.content:
                yield Problem(f"{where}.body", f"Phase 1 status {rule.status} has no body")
            else:
                back.write(rule.body, schema, f"{where}.body")
        elif promised.content:
            yield Problem(where, f"Phase 1 status {rule.status} needs a body; none is written")
    for key in target.responses:
        if key.isdigit() and int(key) < 400 and int(key) not in rules.responses:
            yield Problem(f"{src}: responses", f"no rule for {rules.target}'s {key} answer")
