"""Generated /v2 calls against the closure walk they replace (`closure_call`, the oracle).

Every bundled operation, and synthetic rules for the constructs the bundled ones do
not use, are built both ways on the same requests — well-formed, missing, and odd
(wrong types, non-dict mappings, text that needs quoting). The call, or the
failure's type and text, must be equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest

from shimgw.errors import UntranslatableRequest
from shimgw.messages import ABSENT, ParsedRequest
from shimgw.translate.callgen import call_builder, closure_call
from shimgw.translate.compiler import compile_value
from shimgw.translate.engine import to_v2
from shimgw.translate.language import parse_documents
from shimgw.translate.nodes import From, RequestRules, Value
from shimgw.translate.plan import OperationPlan, ProxyPlan

ODD: tuple[Any, ...] = (
    None,
    0,
    -3,
    7,
    2.5,
    True,
    "",
    "x",
    "a/b c",
    "é",
    [],
    ["a", 1],
    {},
    {"k": 1},
)


def outcome(fn: Any, plan: ProxyPlan, request: ParsedRequest) -> Any:
    try:
        call = fn(plan, request, {"X-Correlation-ID": "c"})
    except UntranslatableRequest as exc:
        return ("refused", str(exc))
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        return ("raised", type(exc).__name__, str(exc))
    fields = tuple(getattr(call, f.name) for f in dataclasses.fields(call))  # no copies: ABSENT
    return ("ok", fields, [list(part) for part in (call.query, call.headers)])


def generated(plan: ProxyPlan, request: ParsedRequest, extra: Mapping[str, str]) -> Any:
    return to_v2(plan, request, extra)


def requests(op: str) -> list[ParsedRequest]:
    good_body = {
        "name": "n",
        "engine": "e",
        "owner": "o",
        "priority": "low",
        "params": {"a": 1},
        "tags": ["t"],
        "callback_url": "http://c",
    }
    query = {"status": "QUEUED", "owner": "a=b", "page": 3, "per_page": 7, "tail": 10}
    out = [
        ParsedRequest(
            operation=op,
            path={"job_id": 12},
            query=query,
            headers={"x-api-key": "K"},
            body=good_body,
        ),
        ParsedRequest(operation=op, path={}, query={}, headers={}, body=ABSENT),
        ParsedRequest(
            operation=op,
            path=MappingProxyType({"job_id": 5}),
            query=MappingProxyType(query),
            headers={},
            body={},
        ),
        ParsedRequest(
            operation=op,
            path={"job_id": 1},
            query={"page": 1, "per_page": 20},
            headers={"x-api-key": ""},
            body=None,
        ),
        ParsedRequest(
            operation=op, path={"job_id": 1}, query={}, headers={}, body={"priority": "urgent"}
        ),
        ParsedRequest(
            operation=op, path={"job_id": 1}, query={}, headers={}, body=MappingProxyType(good_body)
        ),
    ]
    for odd in ODD:
        out.append(
            ParsedRequest(
                operation=op,
                path={"job_id": odd},
                query=dict.fromkeys(query, odd),
                headers={"x-api-key": odd},
                body=dict.fromkeys(good_body, odd),
            )
        )
        out.append(ParsedRequest(operation=op, path={"job_id": 2}, query={}, headers={}, body=odd))
    return out


def test_every_bundled_operation_uses_its_generated_call(
    plans: Mapping[str, OperationPlan],
) -> None:
    proxied = [plan for plan in plans.values() if isinstance(plan, ProxyPlan)]
    assert len(proxied) >= 8
    for plan in proxied:
        assert plan.call is not None
        assert plan.call.__code__.co_filename == f"<shimgw call {plan.operation}>"


@pytest.mark.parametrize(
    "op",
    [
        "getJob",
        "listJobs",
        "createJob",
        "cancelJob",
        "deleteJob",
        "getJobLogs",
        "setJobPriority",
        "getStatus",
        "listEngines",
    ],
)
def test_generated_call_equals_the_closure_walk(
    plans: Mapping[str, OperationPlan], op: str
) -> None:
    plan = plans[op]
    assert isinstance(plan, ProxyPlan)
    for request in requests(op):
        assert outcome(generated, plan, request) == outcome(closure_call, plan, request), request


def test_no_extra_headers_and_quoted_path(plans: Mapping[str, OperationPlan]) -> None:
    plan = plans["getJob"]
    assert isinstance(plan, ProxyPlan)
    for job_id in ("a/b c", "é", "ok-1._~", 3, True, ""):
        request = ParsedRequest(
            operation="getJob", path={"job_id": job_id}, query={}, headers={"x-api-key": "K"}
        )
        call = to_v2(plan, request)
        assert call == closure_call(plan, request)
        assert call.headers == {"Authorization": "Bearer K"}
    assert to_v2(
        plan, ParsedRequest(operation="getJob", path={"job_id": "a/b"}, query={}, headers={})
    ).path == ("/v2/runs/run-a%2Fb")


# --- constructs the bundled rules do not use ------------------------------------------------

RULES: dict[str, Any] = {
    "arith": {"add": [{"from": "query.a"}, {"mul": [{"from": "body.n"}, 2]}]},
    # Constant operands: a number needs no check at run time, anything else still fails.
    "arith_consts": {"sub": [{"mul": [{"const": 1.5}, {"from": "body.n"}]}, {"const": True}]},
    "arith_text": {"add": [{"from": "query.a"}, {"const": "x"}]},
    "cond": {
        "if": {"eq": [{"from": "query.a"}, {"const": 1}]},
        "then": {"const": "one"},
        "else": {"from": "body.n", "default": "none"},
    },
    "each": {"from": "body.list", "pipe": [{"each": [{"shape": "run_id"}]}]},
    "filtered": {
        "from": "body.list",
        "pipe": [{"filter": {"eq": [{"from": "it"}, {"const": 1}]}}],
    },
    "concat": {
        "concat": [{"from": "query.a"}, "-", {"from": "body.n"}, {"const": 5}, {"from": "body.x"}]
    },
    "deep": {"from": "body.a.b.c", "pipe": ["to_int"], "default": 0},
    "nested": {
        "object": {
            "outer": {"object": {"n": {"from": "body.n", "pipe": ["to_int"]}}},
            "empty": {"object": {}},
            "it": {"from": "body.a", "pipe": [{"apply": {"from": "it.b", "pipe": ["values"]}}]},
        }
    },
    "strip": {
        "from": "body.x",
        "pipe": [{"strip_prefix": "run-"}, "to_int", {"within": {"min": 1}}],
    },
    "template": {"from": "query.a", "pipe": [{"template": "<{}>"}, {"template": "{}!"}]},
    "unknown_root": {"from": "status"},
}

VALUES: tuple[Any, ...] = (*ODD, ABSENT, "run-3", "run-0", {"b": {"c": "4"}}, {"b": {"k": 1}})


# `shape:` steps resolve when the file is parsed, so the shape `each` uses comes along.
RUN_ID = {"from": "it", "pipe": [{"template": "run-{}"}]}


def synthetic(name: str) -> Value:
    shapes = {"run_id": RUN_ID, name: RULES[name]}
    return parse_documents(
        [("_c.yaml", {"errors": {"status": {404: 404}}, "shapes": shapes})]
    ).shapes[name]


@pytest.mark.parametrize("where", ["path", "query", "header", "body"])
@pytest.mark.parametrize("name", sorted(RULES))
def test_synthetic_rules_equal_the_closure_walk(
    plans: Mapping[str, OperationPlan], name: str, where: str
) -> None:
    value = synthetic(name)
    base = plans["setJobPriority"]  # a path parameter and a body
    assert isinstance(base, ProxyPlan)
    runid = Value(From("path", ("job_id",)))
    path = (("runId", value if where == "path" else runid),)
    rules = RequestRules(
        path,
        (("q", value),) if where == "query" else (),
        (("X-Rule", value),) if where == "header" else (),
        value if where == "body" else None,
    )
    plan = dataclasses.replace(
        base,
        path=tuple((n, compile_value(v)) for n, v in rules.path),
        query=tuple((n, compile_value(v), False) for n, v in rules.query),
        headers=tuple((n, compile_value(v)) for n, v in rules.headers),
        body=compile_value(rules.body) if rules.body is not None else None,
    )
    plan = dataclasses.replace(plan, call=call_builder(plan, rules))
    for a in VALUES:
        for n in VALUES:
            request = ParsedRequest(
                operation="x",
                path={"job_id": 9},
                query={} if a is ABSENT else {"a": a},
                headers={"x-api-key": "K"},
                body={"n": n, "x": a, "list": [1, 2] if n == 0 else n, "a": n},
            )
            expected = outcome(closure_call, plan, request)
            assert outcome(generated, plan, request) == expected, (a, n)
