"""Operation plans: one operation's rules compiled against both contracts.

A plan carries everything a request needs from the translation side: where
the /v2 call goes, closures that build each part of it, and the rule for
each /v2 status. Built once per snapshot by `build_plans`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from shimgw.contracts.document import Contract, OperationSpec
from shimgw.errors import TranslationError
from shimgw.messages import ABSENT
from shimgw.translate.callgen import CallBuilder, call_builder
from shimgw.translate.compiler import Evaluator, compile_value
from shimgw.translate.exact import UNKNOWN, proven_exact
from shimgw.translate.nodes import From, OperationRules, RequestRules, Translations, Value

_TEMPLATE_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledResponseRule:
    status: int
    body: Evaluator | None
    headers: tuple[tuple[str, Evaluator], ...]
    media_type: str | None  # the Phase 1 media type of `status`
    # Its JSON body may be checked as the object it was encoded from (exact.py's proof).
    exact: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalPlan:
    """An operation the gateway answers itself (the withdrawn getJobStats): no /v2 call."""

    operation: str
    source: str  # the translation file
    promised: frozenset[int]  # statuses the Phase 1 operation lists
    status: int
    error: str  # the Phase 1 error body's message
    headers: tuple[tuple[str, Evaluator], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ProxyPlan:
    """An operation translated into one /v2 call and its answer back."""

    operation: str
    source: str
    promised: frozenset[int]
    target: str  # the /v2 operationId
    method: str
    path_template: str
    path_segments: tuple[tuple[str, str | None], ...]  # (literal, parameter after it)
    path: tuple[tuple[str, Evaluator], ...]
    query: tuple[tuple[str, Evaluator, bool], ...]  # bool: the /v2 parameter is an array
    headers: tuple[tuple[str, Evaluator], ...]
    body: Evaluator | None
    content_type: str | None
    responses: Mapping[int, CompiledResponseRule]
    memoisable: bool = False  # its answers depend only on answer bytes and request values
    # The generated to_v2 of this plan (callgen.py); None: walk the closures (closure_call).
    call: CallBuilder | None = None

    def render_path(self, params: Mapping[str, Any]) -> str:
        parts = []
        for literal, name in self.path_segments:
            parts.append(literal)
            if name is not None:
                parts.append(quote(str(params[name]), safe="-._~"))
        return "".join(parts)


def _segments(template: str) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    last = 0
    for match in _TEMPLATE_PARAM.finditer(template):
        out.append((template[last : match.start()], match.group(1)))
        last = match.end()
    out.append((template[last:], None))
    return tuple(out)


# What a Phase 1 operation compiles to: distinct types, so a local operation can never
# reach the code that sends a call, and no placeholder stands in for the missing parts.
OperationPlan = LocalPlan | ProxyPlan


def _reads_root(node: Any, root: str) -> bool:
    """Whether any `from` in a rule tree reads `root`."""
    if isinstance(node, From):
        return node.root == root
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return any(_reads_root(getattr(node, f.name), root) for f in dataclasses.fields(node))
    if isinstance(node, tuple):
        return any(_reads_root(item, root) for item in node)
    return False


def build_plans(
    translations: Translations, phase1: Contract, phase2: Contract
) -> Mapping[str, OperationPlan]:
    """Compile every operation's rules. Structural problems raise `TranslationError`;
    the deeper schema checks are `check.check_translations`."""
    plans = {}
    common_headers = tuple((n, v, compile_value(v)) for n, v in translations.every_call.headers)
    for op_id, rules in translations.operations.items():
        plans[op_id] = _plan(rules, phase1, phase2, common_headers)
    return MappingProxyType(plans)


def _plan(
    rules: OperationRules,
    phase1: Contract,
    phase2: Contract,
    common_headers: tuple[tuple[str, Value, Evaluator], ...],
) -> OperationPlan:
    src = rules.source
    source_op = phase1.operations.get(rules.operation)
    if source_op is None:
        raise TranslationError(
            f"{src}: operation", f"{rules.operation!r} is not an operationId of phase1.yaml"
        )
    if rules.local is not None:
        local = rules.local
        if local.status not in source_op.promised_statuses:
            raise TranslationError(
                f"{src}: local.status",
                f"{rules.operation} does not promise {local.status} in phase1.yaml",
            )
        return LocalPlan(
            operation=rules.operation,
            source=src,
            promised=source_op.promised_statuses,
            status=local.status,
            error=local.error,
            headers=tuple((n, compile_value(v)) for n, v in local.headers),
        )
    return _proxy_plan(rules, source_op, phase2, common_headers)


def _proxy_plan(
    rules: OperationRules,
    source_op: OperationSpec,
    phase2: Contract,
    common_headers: tuple[tuple[str, Value, Evaluator], ...],
) -> ProxyPlan:
    src = rules.source
    target = phase2.operations.get(rules.target or "")
    if rules.target is None or target is None:
        raise TranslationError(
            f"{src}: target", f"{rules.target!r} is not an operationId of phase2.yaml"
        )
    req = rules.request
    content_type = None
    if req.body is not None:
        if len(target.body) != 1:
            raise TranslationError(
                f"{src}: request.body", f"{rules.target} takes no body or several media types"
            )
        content_type = next(iter(target.body))
    query = []
    for name, value in req.query:
        param = target.param("query", name)
        query.append((name, compile_value(value), bool(param and param.is_array)))
    own_headers = tuple((n, v, compile_value(v)) for n, v in req.headers)
    overridden = {n.lower() for n, _, _ in own_headers}
    headers = tuple(h for h in common_headers if h[0].lower() not in overridden) + own_headers
    plan = ProxyPlan(
        operation=rules.operation,
        source=src,
        promised=source_op.promised_statuses,
        target=rules.target,
        method=target.method,
        path_template=target.path,
        path_segments=_segments(target.path),
        path=tuple((n, compile_value(v)) for n, v in req.path),
        query=tuple(query),
        headers=tuple((n, f) for n, _, f in headers),
        body=compile_value(req.body) if req.body is not None else None,
        content_type=content_type,
        responses=_responses(rules, source_op),
        memoisable=all(
            not rule.headers and not _reads_root(rule.body, "header")
            for rule in rules.responses.values()
        ),
    )
    # The call is generated from the rule trees (the closures cannot be read back).
    trees = RequestRules(req.path, req.query, tuple((n, v) for n, v, _ in headers), req.body)
    return dataclasses.replace(plan, call=call_builder(plan, trees))


def _responses(
    rules: OperationRules, source_op: OperationSpec
) -> Mapping[int, CompiledResponseRule]:
    responses = {}
    defaults = _param_defaults(source_op)
    for v2_status, rule in rules.responses.items():
        p1 = source_op.responses.get(str(rule.status))
        if p1 is None:
            raise TranslationError(
                f"{rules.source}: responses.{v2_status}.status",
                f"{rules.operation} does not promise {rule.status} in phase1.yaml",
            )
        responses[v2_status] = CompiledResponseRule(
            status=rule.status,
            body=compile_value(rule.body) if rule.body is not None else None,
            headers=tuple((n, compile_value(v)) for n, v in rule.headers),
            media_type=next(iter(p1.content), None),
            exact=rule.body is not None and proven_exact(rule.body, defaults),
        )
    return MappingProxyType(responses)


def _param_defaults(op: OperationSpec) -> dict[tuple[str, str], Any]:
    """Each Phase 1 parameter's default as the request check fills it in (a `$ref`'s is not
    looked up: UNKNOWN, which the proof treats as unproven)."""
    return {
        (p.location, p.name): UNKNOWN if "$ref" in p.schema else p.schema.get("default", ABSENT)
        for p in op.params
    }
