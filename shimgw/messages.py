"""Plain data that crosses the layers: no sockets, no aiohttp.

Header mappings are read with lower-case names; the edge passes aiohttp's
case-insensitive multidicts, tests pass plain dicts with lower-case keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson

_T = TypeVar("_T")


class _Absent:
    """The value of a field that is not there (distinct from JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent()


def _quick_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slots dataclass an `__init__` that fills its slots directly.

    A frozen dataclass's own `__init__` goes through `object.__setattr__` per field (a
    global, an attribute and a call each: ~1 µs for V2Request's eight), and the request
    path builds a ParsedRequest and a V2Request per request. This one calls each slot's
    C setter; signature, defaults, equality, repr and frozenness stay the dataclass's.
    Only plain fields qualify: a default_factory or a __post_init__ is refused here, at
    import, rather than silently skipped.
    """
    names, params, namespace = [], [], {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.default_factory is not dataclasses.MISSING or not field.init:
            raise TypeError(f"{cls.__name__}.{field.name}: not a plain field")
        if field.kw_only and "*" not in params:
            params.append("*")
        namespace[f"set_{field.name}"] = cls.__dict__[field.name].__set__
        if field.default is dataclasses.MISSING:
            params.append(field.name)
        else:
            namespace[f"default_{field.name}"] = field.default
            params.append(f"{field.name}=default_{field.name}")
        names.append(field.name)
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: __post_init__ would be skipped")
    source = f"def __init__(self, {', '.join(params)}):\n" + "".join(
        f"    set_{name}(self, {name})\n" for name in names
    )
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@_quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRequest:
    """A Phase 1 request that passed phase1.yaml, with typed values and defaults applied."""

    operation: str
    path: Mapping[str, Any]
    query: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Any = ABSENT


@_quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class V2Request:
    """A /v2 call as the translation built it; values stay typed until the wire."""

    operation: str
    method: str
    path: str
    path_params: Mapping[str, Any]
    query: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Any = ABSENT
    content_type: str | None = None

    def query_pairs(self) -> list[tuple[str, str]]:
        """Form style, exploded: a list becomes the parameter repeated."""
        pairs: list[tuple[str, str]] = []
        for name, value in self.query.items():
            for item in value if isinstance(value, list | tuple) else (value,):
                pairs.append((name, _wire_text(item)))
        return pairs


@dataclass(frozen=True, slots=True, kw_only=True)
class V2Response:
    """What the orchestrator answered; `data` is the decoded JSON body (ABSENT when none)."""

    status: int
    headers: Mapping[str, str]
    content_type: str
    body: bytes
    data: Any = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase1Response:
    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """The gateway's own answer to a local operation: the Phase 1 error body with
    this status and message, and its `local.headers` (the operation's lifecycle
    headers are added by the edge, to every answer of the operation)."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


def _wire_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def error_document(code: int, message: str, request_id: str) -> bytes:
    """The body of every Phase 1 error the gateway writes (phase1.yaml `Error`: `error`,
    `code`, `request_id`, nothing else): built here only, so the shape cannot drift."""
    return orjson.dumps({"error": message, "code": code, "request_id": request_id})
