"""Plain data that crosses the layers: no sockets, no aiohttp.

Header mappings are read with lower-case names; the edge passes aiohttp's
case-insensitive multidicts, tests pass plain dicts with lower-case keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


class _Absent:
    """The value of a field that is not there (distinct from JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent()


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A Phase 1 request that passed phase1.yaml, with typed values and defaults applied."""

    operation: str
    path: Mapping[str, Any]
    query: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Any = ABSENT


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class V2Response:
    """What the orchestrator answered; `data` is the decoded JSON body (ABSENT when none)."""

    status: int
    headers: Mapping[str, str]
    content_type: str
    body: bytes
    data: Any = ABSENT


@dataclass(frozen=True, slots=True)
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
