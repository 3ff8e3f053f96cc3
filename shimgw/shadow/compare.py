"""Comparing two Phase 1 answers field by field, with noise learned Diffy-style.

Theory of operation
-------------------
Both sides of a shadow comparison are Phase 1 answers as a client would
have seen them (a /v2 answer is translated first, elsewhere). `diff` walks
them together and returns the set of *pointers* that differ:

- `status` when the statuses differ (then nothing else is compared: bodies
  of different statuses are different documents, not different fields);
- `header:<Name>` for each header phase1.yaml lists for that status, plus
  the media type of `Content-Type`;
- JSON pointers into the body (`/name`, `/jobs/*/owner`), or `/` for a body
  that is not JSON or whose shapes disagree at the top.

Pointers are normalised *while* walking, by the operation's response schema
in phase1.yaml: array indices collapse to `*`, and anything below an object
the contract leaves open (`params: {type: object}`) or below a node it does
not describe is reported at the deepest node it does describe. So every
pointer comes from a finite set fixed by the contract, which keeps the
`pointer` label of `shimgw_shadow_field_diffs_total` bounded whatever the
answers contain.

Noise (Diffy): for a few sampled requests the primary arm is asked twice;
pointers that differ between its own two answers (timestamps, generated ids)
are recorded as noise for that operation. `judge` then splits a comparison's
differing pointers into ignored (the rule's `ignore` list), noise and drift:
no drift and no noise → match; noise only → noise-only; any drift → differ.

Pure: no sockets, no aiohttp; `PointerTable`s are built once per snapshot.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shimgw import jsoncodec
from shimgw.contracts.document import Contract, OperationSpec, Schema

STATUS = "status"
WHOLE_BODY = "/"
HEADER_PREFIX = "header:"
_MAX_DEPTH = 32
_MISSING = object()  # an absent member is not the same as a null one


class Result(enum.StrEnum):
    """The outcome of one shadow call, as counted in `shimgw_shadow_comparisons_total`."""

    MATCH = "match"
    DIFFER = "differ"
    NOISE_ONLY = "noise-only"
    ERROR = "error"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """One Phase 1 answer: status, headers (lower-case names), media type, body bytes."""

    status: int
    headers: Mapping[str, str]
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    result: Result
    drift: tuple[str, ...] = ()  # sorted, normalised; neither ignored nor noise
    noise: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PointerTable:
    """What phase1.yaml says one operation answers: per status, headers and body schema."""

    operation: str
    contract: Contract
    spec: OperationSpec

    def headers_for(self, status: int) -> tuple[str, ...]:
        response = self.spec.response_for(status)
        return tuple(h.name for h in response.headers) if response is not None else ()

    def schema_for(self, status: int) -> Schema | None:
        response = self.spec.response_for(status)
        if response is None:
            return None
        return response.content.get("application/json")

    def known_pointers(self) -> frozenset[str]:
        """Every pointer `diff` can report for this operation (bounded by the contract)."""
        found = {STATUS, WHOLE_BODY, f"{HEADER_PREFIX}Content-Type"}
        for key, response in self.spec.responses.items():
            found.update(f"{HEADER_PREFIX}{h.name}" for h in response.headers)
            schema = response.content.get("application/json")
            if schema is not None and key:
                _collect(self.contract, schema, "", found, 0)
        return frozenset(found)


def pointer_tables(contract: Contract) -> Mapping[str, PointerTable]:
    return MappingProxyType(
        {op_id: PointerTable(op_id, contract, spec) for op_id, spec in contract.operations.items()}
    )


def _collect(contract: Contract, schema: Schema, at: str, out: set[str], depth: int) -> None:
    schema = contract.resolve(schema)
    if at:
        out.add(at)
    if depth >= _MAX_DEPTH:
        return
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            _collect(contract, sub, f"{at}/{_escape(str(name))}", out, depth + 1)
    items = schema.get("items")
    if isinstance(items, Mapping):
        _collect(contract, items, f"{at}/*", out, depth + 1)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def diff(table: PointerTable, a: Observed, b: Observed) -> frozenset[str]:
    """The normalised pointers at which two answers to the same call differ."""
    if a.status != b.status:
        return frozenset({STATUS})
    found: set[str] = set()
    for name in table.headers_for(a.status):
        if a.headers.get(name.lower()) != b.headers.get(name.lower()):
            found.add(f"{HEADER_PREFIX}{name}")
    if _media(a.content_type) != _media(b.content_type):
        found.add(f"{HEADER_PREFIX}Content-Type")
    if a.body == b.body:
        return frozenset(found)
    schema = table.schema_for(a.status)
    if schema is None or _media(a.content_type) != "application/json":
        found.add(WHOLE_BODY)
        return frozenset(found)
    try:
        # Exact integers, as the client reads them: orjson turns two that differ past 64
        # bits into the same float, and the difference would go unseen.
        left, right = jsoncodec.loads(a.body), jsoncodec.loads(b.body)
    except ValueError:
        found.add(WHOLE_BODY)
        return frozenset(found)
    _walk(table.contract, schema, left, right, "", found, 0)
    return frozenset(found)


def _walk(
    contract: Contract, schema: Schema, a: Any, b: Any, at: str, out: set[str], depth: int
) -> None:
    if a == b:
        return
    schema = contract.resolve(schema)
    here = at or WHOLE_BODY
    if depth >= _MAX_DEPTH:
        out.add(here)
        return
    properties = schema.get("properties")
    if isinstance(a, dict) and isinstance(b, dict) and isinstance(properties, Mapping):
        for key in a.keys() | b.keys():
            sub = properties.get(key)
            if sub is None:  # a member the contract does not name: report its parent
                out.add(here)
            else:
                left, right = a.get(key, _MISSING), b.get(key, _MISSING)
                _walk(contract, sub, left, right, f"{at}/{_escape(key)}", out, depth + 1)
        return
    items = schema.get("items")
    if isinstance(a, list) and isinstance(b, list) and isinstance(items, Mapping):
        if len(a) != len(b):
            out.add(here)
        for left, right in zip(a, b, strict=False):
            _walk(contract, items, left, right, f"{at}/*", out, depth + 1)
        return
    out.add(here)  # a leaf, an open object, or shapes that disagree


@dataclass
class NoiseModel:
    """Pointers seen differing between two answers of the primary arm, per operation."""

    noisy: dict[str, set[str]] = field(default_factory=dict)
    learned_from: dict[str, int] = field(default_factory=dict)

    def learn(self, operation: str, pointers: Iterable[str]) -> None:
        self.noisy.setdefault(operation, set()).update(pointers)
        self.learned_from[operation] = self.learned_from.get(operation, 0) + 1

    def noise_of(self, operation: str) -> frozenset[str]:
        return frozenset(self.noisy.get(operation, ()))

    def samples(self, operation: str) -> int:
        return self.learned_from.get(operation, 0)


def judge(differing: Iterable[str], *, ignore: frozenset[str], noise: frozenset[str]) -> Verdict:
    kept = [p for p in differing if not _ignored(p, ignore)]
    drift = tuple(sorted(p for p in kept if p not in noise))
    noisy = tuple(sorted(p for p in kept if p in noise))
    if drift:
        return Verdict(result=Result.DIFFER, drift=drift, noise=noisy)
    return Verdict(result=Result.NOISE_ONLY if noisy else Result.MATCH, noise=noisy)


def _ignored(pointer: str, ignore: frozenset[str]) -> bool:
    """An ignored pointer covers everything below it (`/jobs/*` covers `/jobs/*/owner`)."""
    if pointer in ignore:
        return True
    return any(pointer.startswith(f"{p}/") for p in ignore if p.startswith("/") and p != "/")


def normalise_pointer(text: str) -> str:
    """A pointer as a config writes it, in the form `diff` reports (indices → `*`)."""
    if text == STATUS or text.startswith(HEADER_PREFIX) or text in ("", WHOLE_BODY):
        return text or WHOLE_BODY
    return "/".join("*" if part.isdigit() or part == "-" else part for part in text.split("/"))
