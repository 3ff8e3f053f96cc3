"""What a PromQL expression refers to: metric names and the label names it uses on them.

Walks the AST of promql-parser (a port of Prometheus' own parser), so an expression that
does not parse fails here exactly as it would in Prometheus. Grafana's variables are
replaced by values of the same PromQL type first (`$__rate_interval` → a duration,
`$operation` inside a matcher → a regex).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import promql_parser as pp

_GRAFANA_DURATIONS = re.compile(r"\$__(rate_interval|interval|range)\b")
_GRAFANA_VARIABLES = re.compile(r"\$\{?[A-Za-z_]\w*\}?")


@dataclass(frozen=True)
class Reference:
    """One use of a label name: on `metric`, or (`metric` None) in a grouping clause whose
    operand metrics are `scope`."""

    label: str
    metric: str | None
    scope: frozenset[str]


def parse(expr: str) -> pp.Expr:
    text = _GRAFANA_DURATIONS.sub("5m", expr)
    return pp.parse(_GRAFANA_VARIABLES.sub(".*", text))


def metrics(node: object) -> set[str]:
    return {name for name, _ in _selectors(node)}


def references(node: object) -> Iterator[Reference]:
    for name, labels in _selectors(node):
        for label in labels:
            yield Reference(label, name, frozenset({name}))
    yield from _groupings(node)


def _children(node: object) -> list[object]:
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return [node.expr]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    return []


def _selectors(node: object) -> Iterator[tuple[str, list[str]]]:
    if isinstance(node, pp.VectorSelector):
        labels = [m.name for m in node.matchers.matchers if m.name != "__name__"]
        for group in node.matchers.or_matchers:
            labels += [m.name for m in group]
        if node.name is None:
            raise ValueError(f"selector without a metric name: {node}")
        yield node.name, labels
    for child in _children(node):
        yield from _selectors(child)


def _groupings(node: object) -> Iterator[Reference]:
    labels: list[str] = []
    if isinstance(node, pp.AggregateExpr) and node.modifier is not None:
        labels = list(node.modifier.labels)
    if isinstance(node, pp.BinaryExpr) and node.modifier is not None:
        if node.modifier.matching is not None:
            labels = list(node.modifier.matching.labels)
        labels += list(node.modifier.group_labels or [])
    if labels:
        scope = frozenset(metrics(node))
        for label in labels:
            yield Reference(label, None, scope)
    for child in _children(node):
        yield from _groupings(child)
