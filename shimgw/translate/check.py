"""Static checks of the translations against both contracts (`shimgw check`).

Run at every snapshot build and by `shimgw check` in CI. Every rule is walked
abstractly with the schema of what it reads beside it (`walker.py`, `infer.py`,
`conform.py`), so the checker can say:
- every target operationId exists; every field a rule reads exists in the source
  schema, every field it writes in the target schema;
- what each rule can produce, through every pipe step, fits the target: type,
  nullability, enums both ways, numeric bounds, lengths and patterns where they
  can be decided (a warning with the reason where they cannot);
- every required target field is written, for every valid source (an optional
  source without a default is a problem);
- every /v2 success status of the target has a response rule; the error table
  maps to promised statuses and keeps the headers Phase 1 requires;
- a `lifecycle` header (Deprecation, Sunset, Link) that an answer of the operation
  declares in phase1.yaml fits that declaration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from shimgw.contracts.document import Contract, OperationSpec
from shimgw.contracts.validators import Invalid, compile_schema
from shimgw.translate.infer import types_of
from shimgw.translate.nodes import OperationRules, ResponseRule, Translations
from shimgw.translate.walker import ANY, Problem, Report, Root, Schemas, Walker

__all__ = ["Problem", "Report", "check_translations"]


def _first_schema(content: Mapping[str, Mapping[str, Any] | None]) -> Mapping[str, Any]:
    for schema in content.values():
        return schema or ANY
    return ANY


def _request_roots(op: OperationSpec, contract: Contract) -> dict[str, Root]:
    """What a request rule reads: parameters (required, or defaulted by the edge, are
    never absent) and the body, named as phase1.yaml names them."""
    file = contract.source.name or contract.name
    roots: dict[str, Root] = {}
    for location in ("path", "query"):
        params = [p for p in op.params if p.location == location]
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {p.name: p.schema for p in params},
            "required": [
                p.name for p in params if p.required or "default" in contract.resolve(p.schema)
            ],
        }
        roots[location] = Root(schema, f"{file} {op.operation_id} {location}")
    body = _first_schema(op.body)
    roots["body"] = Root(
        body if op.body else {"type": "object", "additionalProperties": False},
        Schemas(contract).named(body, f"{file} {op.operation_id} body"),
    )
    return roots


def check_translations(translations: Translations, phase1: Contract, phase2: Contract) -> Report:
    report = Report()
    p1, p2 = Schemas(phase1), Schemas(phase2)
    for op_id in phase1.operations:
        rules = translations.operations.get(op_id)
        if rules is None:
            report.coverage.append((op_id, "missing", "no translation"))
            report.problems.append(Problem(op_id, "phase1.yaml operation has no translation"))
        elif rules.local is not None:
            detail = f"{rules.local.status} ({rules.source}){_announced(rules)}"
            report.coverage.append((op_id, "answered locally", detail))
        else:
            detail = f"→ {rules.target} ({rules.source}){_announced(rules)}"
            report.coverage.append((op_id, "translated", detail))
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
        for problem in _check_operation(
            rules, translations.shape_files, source, target, phase1, phase2, p1, p2, report
        ):
            report.add(problem)
    for problem in _check_error_table(translations, phase1):
        report.add(problem)
    for op_id, rules in translations.operations.items():
        source = phase1.operations.get(op_id)
        if source is not None:  # header rules read plain data too: hold them to the schemas
            walker = Walker(report, p1, p2, _request_roots(source, phase1))
            for name, value in (*translations.every_call.headers, *rules.request.headers):
                walker.infer(value, ANY, f"{rules.source}: request.headers.{name}")
            for name, value in rules.local.headers if rules.local else ():
                walker.infer(value, ANY, f"{rules.source}: local.headers.{name}")
            for problem in _check_lifecycle(rules, source, phase1):
                report.add(problem)
    return report


def _announced(rules: OperationRules) -> str:
    """What the operation's answers announce (its lifecycle), for the coverage table."""
    lines = dict(rules.lifecycle)
    if "Sunset" in lines:
        return f"; sunset {lines['Sunset']}"
    return "; deprecated" if "Deprecation" in lines else ""


def _check_lifecycle(
    rules: OperationRules, source: OperationSpec, phase1: Contract
) -> Iterator[Problem]:
    """Every answer of the operation carries the lifecycle headers; an answer that declares
    one (phase1.yaml declares none today) must accept the constant it gets."""
    for name, value in rules.lifecycle:
        for answer in source.responses.values():
            for header in answer.headers:
                if header.name.lower() != name.lower():
                    continue
                try:
                    compile_schema(phase1, header.schema).check(value, f"header {header.name!r}")
                except Invalid as exc:
                    yield Problem(
                        f"{rules.source}: lifecycle",
                        f"phase1.yaml's {answer.key} answer of {rules.operation} declares "
                        f"{header.name}, and {value!r} does not fit it: {exc}",
                    )


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
    shapes: Mapping[str, str],
    source: OperationSpec,
    target: OperationSpec,
    phase1: Contract,
    phase2: Contract,
    p1: Schemas,
    p2: Schemas,
    report: Report,
) -> Iterator[Problem]:
    walker = Walker(
        report,
        p1,
        p2,
        _request_roots(source, phase1),
        shapes=shapes,
        refused_with_400=400 in source.promised_statuses,
    )
    for location in ("path", "query"):
        yield from _check_parameters(rules, location, target, walker, p2)
    yield from _check_request_headers(rules, target)
    yield from _check_request_body(rules, target, walker, p2)
    for v2_status, rule in rules.responses.items():
        yield from _check_response(rules, v2_status, rule, source, target, phase1, walker)
    for key in target.responses:
        if key.isdigit() and int(key) < 400 and int(key) not in rules.responses:
            yield Problem(
                f"{rules.source}: responses", f"no rule for {rules.target}'s {key} answer"
            )


def _check_parameters(
    rules: OperationRules, location: str, target: OperationSpec, walker: Walker, p2: Schemas
) -> Iterator[Problem]:
    fields = rules.request.path if location == "path" else rules.request.query
    written = {name for name, _ in fields}
    for name, value in fields:
        param = target.param(location, name)
        where = f"{rules.source}: request.{location}.{name}"
        if param is None:
            yield Problem(where, f"{rules.target} has no {location} parameter {name!r}")
            continue
        schema = param.schema
        kinds = types_of(walker.infer(value, ANY, where))
        if param.is_array and kinds is not None and "array" not in kinds:
            schema = {**p2.flat(schema).get("items", ANY), "maxItems": 1}  # sent as [value]
        walker.write(
            value,
            schema,
            where,
            p2.named(param.schema, f"{p2.file} {rules.target} {location} parameter {name!r}"),
        )
    for param in target.params:
        if param.location == location and param.required and param.name not in written:
            yield Problem(
                f"{rules.source}: request.{location}",
                f"required /v2 {location} parameter {param.name!r} is not written",
            )


def _check_request_headers(rules: OperationRules, target: OperationSpec) -> Iterator[Problem]:
    written = {name.lower() for name, _ in rules.request.headers} | _EDGE_HEADERS
    written.add("authorization")
    for param in target.params:
        if param.location == "header" and param.required and param.name.lower() not in written:
            yield Problem(
                f"{rules.source}: request.headers",
                f"required /v2 header {param.name!r} is not written",
            )


def _check_request_body(
    rules: OperationRules, target: OperationSpec, walker: Walker, p2: Schemas
) -> Iterator[Problem]:
    src, body = rules.source, rules.request.body
    if body is None:
        if target.body_required:
            yield Problem(f"{src}: request", f"{rules.target} requires a body; none is written")
        return
    if not target.body:
        yield Problem(f"{src}: request.body", f"{rules.target} takes no body")
        return
    schema = next(iter(target.body.values()), None) or ANY
    said = p2.named(schema, f"{p2.file} {rules.target} body")
    walker.write(body, schema, f"{src}: request.body", said)


def _check_response(
    rules: OperationRules,
    v2_status: int,
    rule: ResponseRule,
    source: OperationSpec,
    target: OperationSpec,
    phase1: Contract,
    forward: Walker,
) -> Iterator[Problem]:
    """One /v2 status's rule, walked back from phase2.yaml's answer to phase1.yaml's."""
    p1, p2 = forward.src, forward.dst
    where = f"{rules.source}: responses.{v2_status}"
    answer = target.response_for(v2_status)
    if answer is None:
        yield Problem(where, f"{rules.target} never answers {v2_status}")
        return
    promised = source.responses.get(str(rule.status))
    if promised is None:
        yield Problem(f"{where}.status", f"{rules.operation} does not promise {rule.status}")
        return
    body = _first_schema(answer.content)
    request = _request_roots(source, phase1)
    roots = {
        "body": Root(body, p2.named(body, f"{p2.file} {rules.target} {v2_status} body")),
        "request": Root(
            {
                "type": "object",
                "properties": {k: r.schema for k, r in request.items()},
                "required": list(request),
            },
            f"{p1.file} {rules.operation} request",
        ),
    }
    back = Walker(forward.report, p2, p1, roots, shapes=forward.shape_files)
    for name, value in rule.headers:
        back.infer(value, ANY, f"{where}.headers.{name}")
    if rule.body is not None:
        schema = _first_schema(promised.content)
        if not promised.content:
            yield Problem(f"{where}.body", f"Phase 1 status {rule.status} has no body")
        else:
            said = p1.named(schema, f"{p1.file} {rules.operation} {rule.status} body")
            back.write(rule.body, schema, f"{where}.body", said)
    elif promised.content:
        yield Problem(where, f"Phase 1 status {rule.status} needs a body; none is written")
