"""Which Phase 1 input each part of a /v2 call is made from, in Phase 1's words.

A valid Phase 1 request can still make a /v2 call that phase2.yaml refuses (an
owner with a line break cannot be a `label` filter). The client must then be
told about the field it sent (`query parameter 'owner'`), never about /v2's
`label`, which it never saw. The map is built once per snapshot from the rule
trees: for every /v2 location a rule writes, the Phase 1 fields its `from`s read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from shimgw.translate.nodes import From, Obj, OperationRules, RequestRules, Value

# (/v2 location, name or dotted body path) → Phase 1 words, e.g.
# ("query", "label") → "query parameter 'owner'"; ("body", "labels.owner") → "body.owner".
Sources = Mapping[tuple[str, str], str]

_WORDS = {"path": "path parameter", "query": "query parameter", "header": "header"}


def request_sources(rules: OperationRules, every_call: RequestRules) -> Sources:
    out: dict[tuple[str, str], str] = {}
    req = rules.request
    for location, fields in (
        ("path", req.path),
        ("query", req.query),
        ("header", (*every_call.headers, *req.headers)),
    ):
        for name, value in fields:
            words = _describe(value)
            if words:
                out[(location, name.lower() if location == "header" else name)] = words
    if req.body is not None:
        _body(req.body, "", out)
    return MappingProxyType(out)


def _body(value: Value, prefix: str, out: dict[tuple[str, str], str]) -> None:
    words = _describe(value)
    if words:
        out[("body", prefix)] = words
    if isinstance(value.base, Obj) and not value.pipe:
        for name, inner in value.base.fields:
            _body(inner, f"{prefix}.{name}" if prefix else name, out)


def _describe(value: Value) -> str:
    labels: list[str] = []
    for node in _reads(value):
        if node.root in _WORDS and node.path:
            label = f"{_WORDS[node.root]} {node.path[0]!r}"
        elif node.root == "body":
            label = ".".join(("body", *node.path))
        else:
            continue
        if label not in labels:
            labels.append(label)
    return " and ".join(labels)


def _reads(node: Any) -> Iterator[From]:
    if isinstance(node, From):
        yield node
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            yield from _reads(getattr(node, f.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _reads(item)


def blame(sources: Sources, location: str, path: tuple[str | int, ...]) -> str | None:
    """The Phase 1 words for the deepest /v2 location in `path` that a rule wrote."""
    names = [str(p) for p in path if not isinstance(p, int)]
    if location != "body":
        return sources.get((location, names[0])) if names else None
    for depth in range(len(names), -1, -1):
        words = sources.get(("body", ".".join(names[:depth])))
        if words:
            return words
    return None
