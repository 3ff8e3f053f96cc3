"""The /v2 call of an operation as generated Python: one function per plan, rules inline.

Theory of operation
-------------------
`to_v2` used to walk a plan's closures (compiler.py): a ctx dict per call, a
closure call per read, per transform, per concatenated part, a dict
comprehension for the path, and a loop over every section even when the
operation has no query or body. For getJob that was ~4 µs of a request's CPU.
Here, once per snapshot and per operation, the request rules (the value trees
`language.py` parsed, not the closures) are written out as the source of one
function `build(request, extra_headers) -> V2Request` and compiled, as
codegen.py does for the answer side's object rules:

- each root (`path`, `query`, `header`, `body`) is read from the request once,
  a field `from: body.a.b` becomes two `dict.get`s, a transform is a direct call
  (`template` is inlined), `concat`, `object` and `add/sub/mul` are written out,
  and the constant parts (path literals, concatenated text) are folded;
- sections the operation does not have cost nothing (no loop, no `try`);
- anything else (a condition, `each`, `filter`, a root the request side does not
  know) calls its compiled closure with the ctx dict the closure version built,
  which the function then builds too, so those cases keep one implementation.

Behaviour is `closure_call`'s (kept below as the reference the tests hold the
generated code to, and the fallback should a plan's source not compile): the
same values in the same key order, the same `UntranslatableRequest` texts
(`<section>: <field path>: <reason>`, a failing section reported before a
missing path parameter), and a value that is not a dict goes the generic walk.
Names reach the source only through repr(); values only through the namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shimgw.errors import UntranslatableRequest
from shimgw.messages import ABSENT, ParsedRequest, V2Request
from shimgw.translate import transforms as tf
from shimgw.translate.nodes import RequestRules
from shimgw.translate.transforms import TransformFailed
from shimgw.translate.valuegen import ROOTS, ValueWriter

if TYPE_CHECKING:  # plan.py imports this module to build its plans
    from shimgw.translate.plan import ProxyPlan

CallBuilder = Callable[[ParsedRequest, Mapping[str, str] | None], V2Request]

# What urllib's quote() leaves alone with safe="-._~": a value made of these alone
# needs no quoting, and str.strip() says so without the encode/rstrip/decode round trip.
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_ROOT_READS = {
    local: f"request.{'headers' if root == 'header' else root}" for root, local in ROOTS.items()
}


def closure_call(
    plan: ProxyPlan, request: ParsedRequest, extra_headers: Mapping[str, str] | None = None
) -> V2Request:
    """The call built by walking the plan's closures: the reference for the generated code."""
    ctx = {
        "path": request.path,
        "query": request.query,
        "header": request.headers,
        "body": request.body,
    }
    field = "request"
    try:
        field = "path"
        path_params = {name: fn(ctx, None) for name, fn in plan.path}
        field = "query"
        query: dict[str, Any] = {}
        for name, fn, is_array in plan.query:
            result = fn(ctx, None)
            if result is not ABSENT:
                query[name] = (
                    (list(result) if isinstance(result, tuple | list) else [result])
                    if is_array
                    else result
                )
        field = "headers"
        headers = dict(extra_headers) if extra_headers else {}
        for name, fn in plan.headers:
            result = fn(ctx, None)
            if result is not ABSENT:
                headers[name] = result if isinstance(result, str) else str(result)
        field = "body"
        body = plan.body(ctx, None) if plan.body is not None else ABSENT
    except TransformFailed as exc:
        raise UntranslatableRequest(f"{field}: {exc.describe()}") from exc
    for name, value in path_params.items():
        if value is ABSENT:
            raise UntranslatableRequest(f"{plan.operation}: no value for /v2 path parameter {name}")
    if body is not ABSENT and plan.content_type:
        headers["Content-Type"] = plan.content_type
    return V2Request(
        operation=plan.target,
        method=plan.method,
        path=plan.render_path(path_params),
        path_params=path_params,
        query=query,
        headers=headers,
        body=body,
        content_type=plan.content_type if body is not ABSENT else None,
    )


def call_builder(plan: ProxyPlan, rules: RequestRules) -> CallBuilder:
    """The generated `build(request, extra_headers)` of `plan`, whose closures `rules` compiled
    to (`rules.headers`: the plan's headers in its order, the common ones included)."""
    named = {name for _, name in plan.path_segments if name is not None}
    if not named <= {name for name, _ in rules.path}:  # check.py refuses this; keep its KeyError
        return _closures(plan)
    source, namespace = _Writer().function(plan, rules)
    try:
        code = compile(source, f"<shimgw call {plan.operation}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - absurdly deep rules
        return _closures(plan)
    exec(code, namespace)
    built: CallBuilder = namespace["build"]
    return built


def _closures(plan: ProxyPlan) -> CallBuilder:
    def build(request: ParsedRequest, extra_headers: Mapping[str, str] | None = None) -> V2Request:
        return closure_call(plan, request, extra_headers)

    return build


def _walk(current: Any, path: tuple[str, ...]) -> Any:
    """compiler._compile_from's walk, from a value already read: for what is not a dict."""
    for segment in path:
        if type(current) is not dict and not isinstance(current, Mapping):
            return ABSENT
        current = current.get(segment, ABSENT)
    return current


class _Writer(ValueWriter):
    """Writes one plan's `build`: the sections around ValueWriter's values."""

    def __init__(self) -> None:
        super().__init__(
            {
                "ABSENT": ABSENT,
                "TransformFailed": TransformFailed,
                "UntranslatableRequest": UntranslatableRequest,
                "V2Request": V2Request,
                "walk": _walk,
                "to_str": tf.SIMPLE["to_str"],
                "quote": quote,
                "UNRESERVED": _UNRESERVED,
            }
        )

    # --- the function -------------------------------------------------------------------

    def function(self, plan: ProxyPlan, rules: RequestRules) -> tuple[str, dict[str, Any]]:
        body: list[str] = []
        path_vars = [(name, self.temp()) for name, _ in rules.path]
        body += self.section(
            "path",
            [
                line
                for (_, v), (_, t) in zip(rules.path, path_vars, strict=True)
                for line in self.value(v, t, "None", "        ")
            ],
        )
        body += self.query(plan, rules)
        body += self.headers(rules)
        if rules.body is not None:
            body += self.section("body", self.value(rules.body, "body", "None", "        "))
        for name, var in path_vars:
            message = f"{plan.operation}: no value for /v2 path parameter {name}"
            body += [
                f"    if {var} is ABSENT:",
                f"        raise UntranslatableRequest({message!r})",
            ]
        if rules.body is not None and plan.content_type:
            ctype = self.const(plan.content_type)
            body += ["    if body is not ABSENT:", f"        headers['Content-Type'] = {ctype}"]
        params = "{" + ", ".join(f"{name!r}: {var}" for name, var in path_vars) + "}"
        content = (
            f"{self.const(plan.content_type)} if body is not ABSENT else None"
            if rules.body is not None
            else "None"
        )
        body.append(
            f"    return V2Request(operation={self.const(plan.target)}, "
            f"method={self.const(plan.method)}, path={self.path(plan, dict(path_vars))}, "
            f"path_params={params}, query=query, headers=headers, "
            f"body={'body' if rules.body is not None else 'ABSENT'}, content_type={content})"
        )
        head = ["def build(request, extra_headers=None):"]
        head += [f"    {local} = {_ROOT_READS[local]}" for local in sorted(self.roots)]
        if self.needs_ctx:
            head.append(
                "    ctx = {'path': request.path, 'query': request.query,"
                " 'header': request.headers, 'body': request.body}"
            )
        return "\n".join(head + body) + "\n", self.namespace

    def section(self, field: str, lines: list[str]) -> list[str]:
        """A section's lines inside the try that names it in a failure."""
        if not lines:
            return []
        return [
            "    try:",
            *lines,
            "    except TransformFailed as exc:",
            f"        raise UntranslatableRequest({field!r} + ': ' + exc.describe()) from exc",
        ]

    def query(self, plan: ProxyPlan, rules: RequestRules) -> list[str]:
        lines: list[str] = []
        arrays = {name: is_array for name, _, is_array in plan.query}
        for name, value in rules.query:
            var = self.temp()
            lines += self.value(value, var, "None", "        ")
            keep = f"(list({var}) if isinstance({var}, tuple | list) else [{var}])"
            lines.append(
                f"        if {var} is not ABSENT: query[{name!r}] = "
                + (keep if arrays[name] else var)
            )
        return ["    query = {}", *self.section("query", lines)]

    def headers(self, rules: RequestRules) -> list[str]:
        lines: list[str] = []
        for name, value in rules.headers:
            var = self.temp()
            lines += self.value(value, var, "None", "        ")
            lines.append(
                f"        if {var} is not ABSENT: headers[{name!r}] = "
                f"{var} if isinstance({var}, str) else str({var})"
            )
        return [
            "    headers = dict(extra_headers) if extra_headers else {}",
            *self.section("headers", lines),
        ]

    def path(self, plan: ProxyPlan, params: Mapping[str, str]) -> str:
        """ProxyPlan.render_path, unrolled: literals folded, quote() only when needed."""
        parts = []
        for literal, name in plan.path_segments:
            if literal:
                parts.append(self.const(literal))
            if name is not None:
                var = params[name]
                text = f"({var} if type({var}) is str else str({var}))"
                parts.append(
                    f"(s if not (s := {text}).strip(UNRESERVED) else quote(s, safe='-._~'))"
                )
        return " + ".join(parts) if parts else "''"
