"""The translation engine: compiled plans turn Phase 1 requests into /v2 calls and back.

Theory of operation
-------------------
A translation file (see `language.py` and translations/README.md) is parsed
once into a tree of frozen rule objects. `compile_value` turns each tree into
a closure `fn(ctx, it) -> value`, so a request walks no YAML, looks up no rule
by name and builds no plan: it calls closures that were built when the
snapshot was. The request side goes one step further: each plan's whole /v2
call is one function generated from the same trees (callgen.py), and the
closure walk (`closure_call`) is kept as what that function must equal.

`ctx` maps a root name to plain data: on the request side `path`, `query`,
`header`, `body` of the checked Phase 1 request; on the response side `body`,
`header`, `status` of the /v2 answer and `request` (the Phase 1 request, for
echoes such as `page`). `it` is the value a `shape`, `each` or `apply` step
is working on.

Absence is a value (`ABSENT`), not an exception: reading a missing field
yields it, transforms are skipped for it, `default` replaces it, and an
object field that ends up absent is left out. That one rule gives
"omit when absent", optional nested blocks and defaults without special
cases.

Both directions are pure: `to_v2` and `to_phase1` take plain data and return
plain data (`messages.py`); so does `answer_locally`, the answer of an
operation that has no /v2 counterpart (a `LocalPlan`: no call is built).
Contract checks, I/O and correlation live at the edge; this module imports
nothing from aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shimgw import jsoncodec
from shimgw.errors import TranslatedError
from shimgw.messages import (
    ABSENT,
    LocalAnswer,
    ParsedRequest,
    Phase1Response,
    V2Request,
    V2Response,
)
from shimgw.translate import transforms as tf
from shimgw.translate.callgen import closure_call
from shimgw.translate.compiler import Ctx, Evaluator
from shimgw.translate.nodes import ErrorTable
from shimgw.translate.plan import LocalPlan, ProxyPlan
from shimgw.translate.transforms import TransformFailed

# --- the two directions -------------------------------------------------------------------


def to_v2(
    plan: ProxyPlan, request: ParsedRequest, extra_headers: Mapping[str, str] | None = None
) -> V2Request:
    """Build the /v2 call for a checked Phase 1 request. Pure; never sends anything.

    `extra_headers` are the edge's own (correlation, trace context); a rule's header of
    the same name wins over them only if the translation says so explicitly. The plan's
    generated builder does the work (callgen.py); `closure_call` is what it must equal.
    """
    call = plan.call
    if call is not None:
        return call(request, extra_headers)
    return closure_call(plan, request, extra_headers)


def to_phase1(
    plan: ProxyPlan, errors: ErrorTable, request: ParsedRequest, response: V2Response
) -> Phase1Response:
    """Turn a (contract-checked) /v2 answer into the Phase 1 answer, or raise its Phase 1 error."""
    return translate_answer(plan, errors, request, response)[0]


def translate_answer(
    plan: ProxyPlan, errors: ErrorTable, request: ParsedRequest, response: V2Response
) -> tuple[Phase1Response, Any]:
    """`to_phase1`, and the value its JSON body was encoded from when the rule is proven to
    yield only JSON's own values (exact.py), else ABSENT: the sent check then validates the
    value instead of parsing the body back (ResponseCheck.check_encoded)."""
    rule = plan.responses.get(response.status)
    if rule is None:
        raise translate_error(errors, plan.promised, response)
    ctx = {
        "body": response.data,
        "header": response.headers,
        "status": response.status,
        "request": {"path": request.path, "query": request.query, "body": request.body},
    }
    try:
        headers = _evaluate_headers(rule.headers, ctx)
        if rule.body is None:
            return Phase1Response(
                status=rule.status, body=b"", content_type=None, headers=headers
            ), ABSENT
        data = rule.body(ctx, None)
    except TransformFailed as exc:
        raise TranslatedError(
            502, f"orchestrator answer cannot be translated: {exc.describe()}"
        ) from exc
    if rule.media_type == "text/plain":
        body = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else b""
        return Phase1Response(
            status=rule.status, body=body, content_type="text/plain; charset=utf-8", headers=headers
        ), ABSENT
    encoded = jsoncodec.dumps(data)
    result = Phase1Response(
        status=rule.status, body=encoded, content_type="application/json", headers=headers
    )
    return result, data if rule.exact else ABSENT


def translate_error(
    errors: ErrorTable, promised: frozenset[int], response: V2Response
) -> TranslatedError:
    """MAPPING.md's status table, then: a client never gets a status its operation does not list."""
    status = response.status
    if status in errors.status:
        mapped = errors.status[status]
    elif 400 <= status < 500:
        mapped = errors.other_4xx
    elif status >= 500:
        mapped = errors.other_5xx
    else:
        return TranslatedError(502, f"orchestrator answered {status}, which no rule translates")
    message = _problem_message(errors, response.data) or f"orchestrator answered {status}"
    if mapped not in promised:
        return TranslatedError(502, f"orchestrator answered {status}: {message}")
    keep = errors.keep_headers.get(status, ())
    headers = {
        name: response.headers[name.lower()] for name in keep if name.lower() in response.headers
    }
    return TranslatedError(mapped, message, headers=headers)


def _problem_message(errors: ErrorTable, data: Any) -> str | None:
    if isinstance(data, Mapping):
        for name in errors.message_fields:
            value = data.get(name)
            if isinstance(value, str) and value:
                return value
    return None


def answer_locally(plan: LocalPlan, request: ParsedRequest) -> LocalAnswer:
    """The gateway's own answer to an operation with no /v2 counterpart. Pure."""
    ctx = {
        "path": request.path,
        "query": request.query,
        "header": request.headers,
        "body": request.body,
    }
    return LocalAnswer(plan.status, plan.error, _evaluate_headers(plan.headers, ctx))


def _evaluate_headers(
    rules: tuple[tuple[str, Evaluator], ...], ctx: Ctx
) -> tuple[tuple[str, str], ...]:
    out = []
    for name, fn in rules:
        result = fn(ctx, None)
        if result is not ABSENT:
            out.append((name, _text(result)))
    return tuple(out)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(tf.SIMPLE["to_str"](value))
