"""Holding what a rule can produce (`infer.py`) against the schema it is written into.

Decided in full: type and nullability, enums both ways (every known value is
validated against the whole target schema), numeric bounds when the produced
side has them, string lengths, patterns of identical text, and patterns over
decimal identifiers (`run-{}` of an integer range: checked at the range's
ends and every change of digit count, which is exact for such a language).
Anything else the target constrains — a pattern over free text, a bound on a
value whose source names none — is a warning that says why it could not be
decided, never a silent pass.

On the request side a value out of bounds is refused with a 400 before anything
is sent (the /v2 call check); the finding says so, and a decided one is still a
problem: valid Phase 1 input refused is drift. On the response side the answer
would break phase1.yaml, or be a 502 nobody chose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shimgw.translate.infer import DIGITS, EXTRA, WORDS, Schema, types_of, words


@dataclass(frozen=True, slots=True)
class Finding:
    text: str
    warning: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """How to read the target contract: flatten refs/allOf, validate one value."""

    flat: Callable[[Schema], Schema]
    source_flat: Callable[[Schema], Schema]
    valid: Callable[[Schema, Any], bool]
    refused_with_400: bool  # request side of an operation that promises 400


def _admits(kind: str, allowed: frozenset[str]) -> bool:
    return kind in allowed or (kind == "integer" and "number" in allowed)


def _said(kinds: frozenset[str]) -> str:
    return " or ".join(sorted(kinds))


def conform(p: Schema, t: Schema, tw: str, target: Target) -> Iterator[Finding]:
    t = target.flat(t)
    if not {k for k in t if not k.startswith("x-")}:
        return  # `{}`: the target takes anything
    tw = str(t.get(WORDS, tw))
    p = {**target.source_flat(p), **{k: v for k, v in p.items() if k.startswith("x-")}}
    pw = words(p)
    for value in p.get(EXTRA, []):
        if not target.valid(t, value):
            yield Finding(f"{pw} can be {value!r} (default or branch); {tw} does not allow it")
    if "enum" in p:
        bad = [v for v in p["enum"] if not target.valid(t, v)]
        if bad:
            allowed = f" (allowed: {list(t['enum'])})" if "enum" in t else ""
            yield Finding(f"yields {bad} from {pw}; {tw} does not allow it{allowed}")
        return
    tt, pt = types_of(t), types_of(p)
    if tt is not None:
        if pt is None:
            yield Finding(f"cannot decide the type: {pw} names none; {tw} is {_said(tt)}", True)
            return
        wrong = sorted(k for k in pt if not _admits(k, tt))
        for kind in wrong:
            yield Finding(
                f"{pw} can be null; {tw} is not nullable"
                if kind == "null"
                else f"{pw} is {kind}; {tw} is {_said(tt)}"
            )
        if wrong:
            return
    if "enum" in t:
        yield Finding(
            f"{pw} is any {_said(pt or frozenset({'value'}))}; {tw} allows only {t['enum']}"
        )
        return
    kinds = pt or frozenset()
    yield from _bounds(p, t, pw, tw, kinds, target)
    if "array" in kinds and "items" in t:
        items = {**p.get("items", {}), WORDS: f"{pw}[]"}
        yield from conform(items, t["items"], f"{tw}[]", target)
    if "object" in kinds:
        yield from _object(p, t, pw, tw, target)


def _bounded(text: str, target: Target, decided: bool = True) -> Finding:
    """A decided break is a problem on either side (on the request side valid Phase 1
    input would be refused with 400: drift all the same); an undecided one a warning."""
    note = "; a request that breaks it is refused with 400" if target.refused_with_400 else ""
    if not decided:
        return Finding(f"cannot decide: {text}{note}", True)
    return Finding(f"{text}{note}")


def _bounds(
    p: Schema, t: Schema, pw: str, tw: str, kinds: frozenset[str], target: Target
) -> Iterator[Finding]:
    checks = []
    if kinds & {"integer", "number"}:
        checks += [("minimum", min, "minimum"), ("maximum", max, "maximum")]
    if "string" in kinds:
        checks += [("minLength", min, "minLength"), ("maxLength", max, "maxLength")]
    if "array" in kinds:
        checks += [("maxItems", max, "maxItems")]
    if "object" in kinds:
        checks += [("maxProperties", max, "maxProperties")]
    lengths = _digit_lengths(p)
    for key, worst, label in checks:
        limit = t.get(key)
        if limit is None:
            continue
        have = lengths.get(key, p.get(key))
        if have is None:
            yield _bounded(f"{pw} has no {label}; {tw} {label} is {limit}", target, False)
        elif worst(have, limit) != limit:
            yield _bounded(f"{pw} can reach {have}; {tw} {label} is {limit}", target)
    pattern = t.get("pattern")
    if pattern and "string" in kinds and p.get("pattern") != pattern:
        if DIGITS in p:
            bad = [w for w in _witnesses(p[DIGITS]) if not re.search(pattern, w)]
            if bad:
                yield _bounded(f"{pw} can be {bad[0]!r}; {tw} pattern is {pattern}", target)
        else:
            yield _bounded(f"whether {pw} always matches {tw} pattern {pattern}", target, False)
    if t.get("uniqueItems") and "array" in kinds and not p.get("uniqueItems"):
        yield _bounded(f"{pw} may repeat items; {tw} needs unique items", target, False)


def _digit_lengths(p: Schema) -> dict[str, int]:
    if DIGITS not in p:
        return {}
    prefix, suffix, low, high = p[DIGITS]
    fixed = len(prefix) + len(suffix)
    return {"minLength": fixed + len(str(low)), "maxLength": fixed + len(str(high))}


def _witnesses(span: tuple[str, str, int, int]) -> list[str]:
    """The range's ends and every change of digit count: all a pattern over `prefix` +
    canonical decimals + `suffix` can tell apart by length and leading digit."""
    prefix, suffix, low, high = span
    numbers = {low, high}
    power = 1
    while power <= high:
        numbers |= {n for n in (power - 1, power) if low <= n <= high}
        power *= 10
    return [f"{prefix}{n}{suffix}" for n in sorted(numbers)]


def _object(p: Schema, t: Schema, pw: str, tw: str, target: Target) -> Iterator[Finding]:
    props, required = t.get("properties", {}), t.get("required", [])
    p_props, p_required = p.get("properties", {}), set(p.get("required", []))
    for name in required:
        if name not in p_required:
            yield Finding(f"{pw} may lack {name!r}; {tw} requires it")
    for name, schema in props.items():
        if name in p_props:
            inner = {**p_props[name], WORDS: f"{pw}.{name}"}
            yield from conform(inner, schema, f"{tw}.{name}", target)
    extra = t.get("additionalProperties")
    if isinstance(extra, dict):
        p_extra = p.get("additionalProperties", {})
        inner = p_extra if isinstance(p_extra, dict) else {}
        yield from conform({**inner, WORDS: f"{pw}.*"}, extra, f"{tw}.*", target)
    elif extra is False and p.get("additionalProperties", True) is not False:
        yield _bounded(f"{pw} may hold other fields; {tw} allows none", target, False)
    if "propertyNames" in t and p.get("propertyNames") != t["propertyNames"]:
        yield _bounded(f"whether {pw} field names match {tw} propertyNames", target, False)
