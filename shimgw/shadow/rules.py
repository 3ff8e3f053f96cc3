"""`routing.shadow` rules and the `shadowing` limits: YAML → frozen values, errors naming keys.

A rule says: for these operations (and, optionally, only for clients of this
group), send a sampled copy of the call to the arm `to` and compare its
answer with the one the client got. Whether a rule is *safe* needs the
contract (which operations are not GETs), so that check runs when the
snapshot is built (`check_rules`), still at load and on every reload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shimgw.errors import ConfigError
from shimgw.shadow.compare import normalise_pointer

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowRule:
    key: str  # "routing.shadow[0]": how errors and logs name the rule
    operations: frozenset[str]
    to: str
    sample: float
    group: str | None = None
    unsafe: bool = False
    ignore: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowLimits:
    concurrency: int = 4  # shadow calls in flight
    queue: int = 256  # shadow calls waiting; beyond: dropped and counted
    max_body_bytes: int = 1 << 20  # larger requests or answers: not shadowed (dropped)
    samples: int = 20  # differing samples kept for /admin/diffs
    noise_requests: int = 5  # per operation, calls whose primary is asked twice


_RULE_KEYS = {"operations", "to", "sample", "group", "unsafe", "ignore"}
_LIMIT_KEYS = {"concurrency", "queue", "max_body_bytes", "samples", "noise_requests"}


def parse_rules(
    raw: Any, key: str, upstreams: Mapping[str, Any], groups: Iterable[str]
) -> tuple[ShadowRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(key, "expected a list of rules")
    known_groups = set(groups)
    return tuple(_rule(item, f"{key}[{i}]", upstreams, known_groups) for i, item in enumerate(raw))


def _rule(raw: Any, key: str, upstreams: Mapping[str, Any], groups: set[str]) -> ShadowRule:
    if not isinstance(raw, dict):
        raise ConfigError(key, "expected a mapping {operations, to, sample, group?, unsafe?}")
    unknown = sorted(str(k) for k in raw if k not in _RULE_KEYS)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key")
    operations = raw.get("operations")
    if not isinstance(operations, list) or not operations:
        raise ConfigError(f"{key}.operations", "expected a non-empty list of operationIds")
    if not all(isinstance(o, str) and o for o in operations):
        raise ConfigError(f"{key}.operations", "expected a list of operationIds")
    to = raw.get("to")
    if to not in upstreams:
        raise ConfigError(f"{key}.to", f"expected a known upstream ({', '.join(upstreams)})")
    sample = raw.get("sample", 1.0)
    if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 < sample <= 1:
        raise ConfigError(
            f"{key}.sample", f"expected a fraction above 0 and up to 1, got {sample!r}"
        )
    group = raw.get("group")
    if group is not None and group not in groups:
        raise ConfigError(f"{key}.group", f"no routing.groups entry is named {group!r}")
    unsafe = raw.get("unsafe", False)
    if not isinstance(unsafe, bool):
        raise ConfigError(f"{key}.unsafe", f"expected true or false, got {unsafe!r}")
    ignore = raw.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise ConfigError(f"{key}.ignore", "expected a list of pointers (/name, header:Name)")
    return ShadowRule(
        key=key,
        operations=frozenset(operations),
        to=str(to),
        sample=float(sample),
        group=group,
        unsafe=unsafe,
        ignore=frozenset(normalise_pointer(p) for p in ignore),
    )


def parse_limits(raw: Any, key: str) -> ShadowLimits:
    if raw is None:
        return ShadowLimits()
    if not isinstance(raw, dict):
        raise ConfigError(key, "expected a mapping")
    unknown = sorted(str(k) for k in raw if k not in _LIMIT_KEYS)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key")
    values = {}
    for name, value in raw.items():
        low = 0 if name in ("queue", "noise_requests") else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{key}.{name}", f"expected a whole number ≥ {low}, got {value!r}")
        values[str(name)] = value
    return ShadowLimits(**values)


def check_rules(
    rules: Iterable[ShadowRule],
    methods: Mapping[str, str],
    shadow_only: frozenset[str],
) -> None:
    """Refuse a rule naming an unknown operation, or replaying an unsafe one onto a live arm.

    `methods`: Phase 1 operationId → HTTP method; `shadow_only`: arms that never serve.
    """
    for rule in rules:
        for op in sorted(rule.operations):
            method = methods.get(op)
            if method is None:
                raise ConfigError(f"{rule.key}.operations", f"{op} is not a phase1.yaml operation")
            if method in SAFE_METHODS:
                continue
            if not rule.unsafe:
                raise ConfigError(
                    rule.key,
                    f"{op} ({method}) is not safe to replay; only GETs are shadowed unless the "
                    "rule says `unsafe: true` and its `to` arm is `shadow_only: true`",
                )
            if rule.to not in shadow_only:
                raise ConfigError(
                    rule.key,
                    f"would replay {op} ({method}) onto {rule.to!r}, an arm that serves "
                    f"clients; unsafe operations are only shadowed to a `shadow_only: true` arm",
                )
