"""`shimgw check --generate N`: translations tried on examples drawn from the contracts.

For every translated operation, hypothesis (with hypothesis-jsonschema) draws
Phase 1 requests that phase1.yaml accepts and pushes each through the gateway's
own pipeline (Phase 1 check → `to_v2` → /v2 call check): the call must satisfy
phase2.yaml, or be refused with a 400 the operation promises. It then draws
/v2 answers phase2.yaml allows, for every status the target documents (and one
undocumented error status, which `default` covers), and pushes them through the
answer check → `to_phase1`: the result must satisfy phase1.yaml (checked by the
compiled Phase 1 answer validators), or be a deliberate 502 with its reason.

A failure is shrunk by hypothesis to its smallest form and reported as one
problem line carrying that counterexample. A fixed seed makes `make test`
reproducible; `--seed -1` draws afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from shimgw import jsoncodec
from shimgw.contracts.document import Contract, OperationSpec
from shimgw.contracts.validators import (
    phase1_request_check,
    phase2_request_check,
    response_check,
)
from shimgw.errors import GatewayError, UntranslatableRequest, UpstreamContractViolation
from shimgw.messages import ParsedRequest, V2Response, error_document
from shimgw.snapshot import Sources
from shimgw.translate.engine import to_phase1, to_v2
from shimgw.translate.plan import ProxyPlan, build_plans
from shimgw.translate.provenance import request_sources
from shimgw.translate.walker import Problem

Counts = dict[str, int]
UNDOCUMENTED = 599  # an error status no operation lists: `default` must carry it


def inline(contract: Contract, schema: Any, depth: int = 0) -> Any:
    """A standalone schema (refs replaced by what they name): hypothesis-jsonschema then
    canonicalises only what the operation uses, not every component of the contract."""
    if isinstance(schema, dict):
        if "$ref" in schema and depth < 32:
            return inline(contract, contract.resolve(schema), depth + 1)
        return {k: inline(contract, v, depth) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inline(contract, v, depth) for v in schema]
    return schema


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _params(contract: Contract, op: OperationSpec, location: str) -> st.SearchStrategy[Any]:
    """A mapping of parameter name → text, required ones always, optional ones maybe."""
    required: dict[str, st.SearchStrategy[str]] = {}
    optional: dict[str, st.SearchStrategy[str]] = {}
    for param in op.params:
        if param.location == location:
            strategy = from_schema(inline(contract, param.schema)).map(_text)
            (required if param.required else optional)[param.name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def _pair(media: str) -> Callable[[Any], tuple[str, Any]]:
    return lambda body: (media, body)


def _request(contract: Contract, op: OperationSpec) -> st.SearchStrategy[Any]:
    body: st.SearchStrategy[Any] = st.none()
    if op.body:
        media, schema = next(iter(op.body.items()))
        body = from_schema(inline(contract, schema or {})).map(_pair(media))
    return st.tuples(_params(contract, op, "path"), _params(contract, op, "query"), body)


def _answer(contract: Contract, op: OperationSpec) -> st.SearchStrategy[Any]:
    options = []
    for key, spec in op.responses.items():
        status = int(key) if key.isdigit() else UNDOCUMENTED
        headers = st.fixed_dictionaries(
            {
                h.name.lower(): from_schema(inline(contract, h.schema)).map(_text)
                for h in spec.headers
                if h.required
            }
        )
        body: st.SearchStrategy[Any] = st.none()
        if spec.content:
            media, schema = next(iter(spec.content.items()))
            body = from_schema(inline(contract, schema or {})).map(_pair(media))
        options.append(st.tuples(st.just(status), headers, body))
    return st.one_of(options)


class _Operation:
    """One operation's pipeline, exactly as a snapshot compiles it."""

    def __init__(self, sources: Sources, plan: ProxyPlan) -> None:
        p1, p2 = sources.phase1, sources.phase2
        self.plan, self.errors = plan, sources.translations.errors
        self.source = p1.operations[plan.operation]
        target = p2.operations[plan.target]
        self.target = target
        self.parse = phase1_request_check(p1, self.source).parse
        rules = sources.translations.operations[plan.operation]
        self.call_check = phase2_request_check(
            p2, target, request_sources(rules, sources.translations.every_call)
        )
        self.answer_check = response_check(p2, target)
        self.phase1_answer = response_check(p1, self.source)

    def request(self, drawn: Any) -> tuple[str, ParsedRequest]:
        path, query, body = drawn
        media, data = body if body is not None else ("", None)
        raw = jsoncodec.dumps(data) if body is not None else b""
        parsed = self.parse(path, query, {"x-api-key": "k"}, media, raw)
        try:
            call = to_v2(self.plan, parsed, {"X-Correlation-ID": "generated"})
            self.call_check.check(call)
        except UntranslatableRequest as exc:
            if 400 not in self.plan.promised:
                raise AssertionError(f"refused with 400, which it does not promise: {exc}") from exc
            return "400", parsed
        return "ok", parsed

    def request_kind(self, drawn: Any) -> str:
        return self.request(drawn)[0]

    def answer_kind(self, drawn: Any) -> str:
        return self.answer(self.request(drawn[0])[1], drawn[1])

    def answer(self, parsed: ParsedRequest, drawn: Any) -> str:
        status, headers, body = drawn
        media, data = body if body is not None else ("", None)
        raw = jsoncodec.dumps(data) if body is not None else b""
        try:
            decoded = self.answer_check.check(status, headers, media, raw)
        except UpstreamContractViolation as exc:
            raise AssertionError(f"the gateway refuses a phase2-valid answer: {exc}") from exc
        response = V2Response(
            status=status, headers=headers, content_type=media, body=raw, data=decoded
        )
        try:
            result = to_phase1(self.plan, self.errors, parsed, response)
        except GatewayError as error:
            code = error.status if error.status in self.plan.promised else 502
            body_bytes = error_document(code, error.message, "generated")
            self._holds(
                code, {**error.headers, "X-Request-ID": "generated"}, body_bytes, "application/json"
            )
            if code == 502 and not error.message:
                raise AssertionError("a 502 without a reason") from error
            return str(code)
        self._holds(
            result.status,
            {**dict(result.headers), "X-Request-ID": "generated"},
            result.body,
            result.content_type or "",
        )
        return str(result.status)

    def _holds(self, status: int, headers: Mapping[str, str], body: bytes, media: str) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            self.phase1_answer.check(status, lower, media, body)
        except UpstreamContractViolation as exc:
            raise AssertionError(f"the Phase 1 answer breaks phase1.yaml: {exc}") from exc


def _run(
    check: Callable[[Any], str], strategy: st.SearchStrategy[Any], n: int, rng: int | None
) -> tuple[Counts, str | None]:
    counts: Counts = {}
    failure: list[str] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        # Shrink (the smallest counterexample is the point), but skip the "explain"
        # phase: it re-runs many variations to annotate the report, minutes on a Run.
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )
    @given(strategy)
    def attempt(drawn: Any) -> None:
        try:
            kind = check(drawn)
        except (AssertionError, GatewayError) as exc:
            failure[:] = [f"{exc} — smallest counterexample: {drawn!r}"]
            raise AssertionError(str(exc)) from None
        counts[kind] = counts.get(kind, 0) + 1

    test = seed(rng)(attempt) if rng is not None else attempt
    try:
        test()
    except AssertionError:
        return counts, failure[0] if failure else "failed"
    return counts, None


def generate_all(
    sources: Sources, n: int, rng: int | None = 0
) -> tuple[list[Problem], dict[str, Counts]]:
    """N requests and N answers per translated operation; problems and counts per kind."""
    plans = build_plans(sources.translations, sources.phase1, sources.phase2)
    problems: list[Problem] = []
    counts: dict[str, Counts] = {}
    for op_id, plan in plans.items():
        if not isinstance(plan, ProxyPlan):
            continue  # answered locally: nothing is translated
        op = _Operation(sources, plan)
        requests = _request(sources.phase1, op.source)
        req_counts, failed = _run(op.request_kind, requests, n, rng)
        if failed:
            problems.append(Problem(f"{op_id} (generated request)", failed))
        pairs = st.tuples(requests, _answer(sources.phase2, op.target))
        ans_counts, failed = _run(op.answer_kind, pairs, n, rng)
        if failed:
            problems.append(Problem(f"{op_id} (generated answer)", failed))
        counts[op_id] = {
            "requests": sum(req_counts.values()),
            **{f"request→{k}": v for k, v in sorted(req_counts.items())},
            "answers": sum(ans_counts.values()),
            **{f"answer→{k}": v for k, v in sorted(ans_counts.items())},
        }
    return problems, counts
