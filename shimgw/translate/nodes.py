"""The mapping language's vocabulary as frozen data: value trees, steps, conditions, rules.

`language.py` builds these from YAML; `compiler.py` turns them into closures and
`check.py` walks them against the contracts. Nothing here reads a file or runs a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf

# --- value trees ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class From:
    root: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Const:
    value: Any


@dataclass(frozen=True, slots=True)
class Obj:
    fields: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Concat:
    parts: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class If:
    cond: Cond
    then: Value
    otherwise: Value


@dataclass(frozen=True, slots=True)
class Arith:
    op: str
    left: Value
    right: Value


Base: TypeAlias = From | Const | Obj | Concat | If | Arith


@dataclass(frozen=True, slots=True)
class Value:
    base: Base
    pipe: tuple[Step, ...] = ()
    default: Any = ABSENT


# --- steps that need values (the plain ones live in transforms) ----------------------------


@dataclass(frozen=True, slots=True)
class Each:
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    cond: Cond


@dataclass(frozen=True, slots=True)
class Apply:
    """Evaluate a value with `it` bound to the piped value (`shape: NAME` is one)."""

    value: Value
    shape: str | None = None


Step: TypeAlias = (
    (
        tf.Simple
        | tf.Template
        | tf.StripPrefix
        | tf.EnumMap
        | tf.Buckets
        | tf.Within
        | tf.Pluck
        | tf.Join
    )
    | Each
    | Filter
    | Apply
)

# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Eq:
    left: Value
    right: Value


@dataclass(frozen=True, slots=True)
class Contains:
    haystack: Value
    needle: Value


@dataclass(frozen=True, slots=True)
class Present:
    value: Value


@dataclass(frozen=True, slots=True)
class Not:
    cond: Cond


@dataclass(frozen=True, slots=True)
class All:
    conds: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    conds: tuple[Cond, ...]


Cond: TypeAlias = Eq | Contains | Present | Not | All | AnyOf

# --- rules of one operation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRules:
    path: tuple[tuple[str, Value], ...] = ()
    query: tuple[tuple[str, Value], ...] = ()
    headers: tuple[tuple[str, Value], ...] = ()
    body: Value | None = None


@dataclass(frozen=True, slots=True)
class ResponseRule:
    status: int
    body: Value | None
    headers: tuple[tuple[str, Value], ...] = ()


@dataclass(frozen=True, slots=True)
class LocalRule:
    status: int
    error: str
    headers: tuple[tuple[str, Value], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class OperationRules:
    operation: str
    source: str
    target: str | None
    request: RequestRules
    responses: Mapping[int, ResponseRule]
    local: LocalRule | None
    # Deprecation / Sunset / Link header lines for every Phase 1 answer (lifecycle.py)
    lifecycle: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorTable:
    status: Mapping[int, int]
    other_4xx: int
    other_5xx: int
    keep_headers: Mapping[int, tuple[str, ...]]
    message_fields: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Translations:
    operations: Mapping[str, OperationRules]
    every_call: RequestRules
    errors: ErrorTable
    shapes: Mapping[str, Value]
    shape_files: Mapping[str, str] = field(default_factory=dict)  # shape → file defining it
