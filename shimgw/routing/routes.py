"""The Phase 1 route table, compiled once from phase1.yaml.

Static paths are one dictionary lookup; templated paths are tried as
precompiled regular expressions, most literal segments first, so
`/api/v1/jobs/{job_id}/cancel` is never taken for `/api/v1/jobs/{job_id}`.
A parameter never holds a '/', so only templates with as many slashes as the
path can match it: they are grouped by that count, and a getJob path tries one
expression instead of every longer template's first.

Matching is on the decoded path, so a '/' that arrives percent-encoded (`%2F`, data
inside one segment by RFC 3986 §2.2) must not become a separator there: given the target
as sent, a path holding one is no resource (no parameter can hold a '/'), whatever the
arm would have made of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from shimgw.contracts.document import Contract
from shimgw.errors import MethodNotAllowed, RouteNotFound

_ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Route:
    template: str
    methods: Mapping[str, str]  # HTTP method → operationId
    allow: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteTable:
    static: Mapping[str, Route]
    templated: Mapping[int, tuple[tuple[re.Pattern[str], Route], ...]]  # by '/' count

    def match(self, method: str, path: str, *, raw: str = "") -> tuple[str, Mapping[str, str]]:
        """(operationId, path parameters) or `RouteNotFound` / `MethodNotAllowed`.

        `raw`: the request target as sent (a query may follow), when `path` is its decoding.
        """
        if "%" in raw:
            sent = raw.partition("?")[0]
            if _ENCODED_SLASH.search(sent):
                raise RouteNotFound(f"no such resource: {_printable(sent)}")
        params: Mapping[str, str] = {}
        route = self.static.get(path)
        if route is None:
            for pattern, candidate in self.templated.get(path.count("/"), ()):
                found = pattern.match(path)
                if found is not None:
                    route, params = candidate, found.groupdict()
                    break
            else:
                raise RouteNotFound(f"no such resource: {_printable(path)}")
        op = route.methods.get(method)
        if op is None:
            raise MethodNotAllowed(
                f"{_printable(method)} is not allowed on {route.template}", allow=route.allow
            )
        return op, params


def _printable(text: str) -> str:
    # The path goes into an error body and a log line: keep it short and on one line.
    text = text if len(text) <= 200 else text[:200] + "…"
    return text.encode("unicode_escape").decode("ascii")


def build_routes(contract: Contract) -> RouteTable:
    by_path: dict[str, dict[str, str]] = {}
    for op in contract.operations.values():
        by_path.setdefault(op.path, {})[op.method] = op.operation_id
    static: dict[str, Route] = {}
    templated: list[tuple[int, re.Pattern[str], Route]] = []
    for template, methods in by_path.items():
        route = Route(template, MappingProxyType(methods), tuple(sorted(methods)))
        if "{" not in template:
            static[template] = route
            continue
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^{}]+\})", template)
        )
        literal = sum(1 for s in template.split("/") if s and not s.startswith("{"))
        templated.append((literal, re.compile(f"^{regex}\\Z"), route))
    templated.sort(key=lambda t: -t[0])
    by_slashes: dict[int, tuple[tuple[re.Pattern[str], Route], ...]] = {}
    for _, pattern, route in templated:
        slashes = route.template.count("/")
        by_slashes[slashes] = (*by_slashes.get(slashes, ()), (pattern, route))
    return RouteTable(MappingProxyType(static), MappingProxyType(by_slashes))
