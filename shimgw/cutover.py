"""What a snapshot needs for the cutover, built once with it: legacy arms and shadow rules.

Pure (no sockets): phase1.yaml answer checks for the legacy arm, the pointer
tables shadow comparison normalises by, and the shadow rules per operation,
refused here when unsafe (`check_rules`) so a bad rule stops a load or a
reload with one line naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shimgw.config import Config
from shimgw.contracts.document import Contract
from shimgw.contracts.validators import ResponseCheck, response_check
from shimgw.shadow.compare import PointerTable, pointer_tables
from shimgw.shadow.rules import ShadowRule, check_rules


@dataclass(frozen=True, slots=True, kw_only=True)
class CutoverParts:
    legacy: frozenset[str] = frozenset()  # upstreams with `protocol: phase1`
    shadow_only: frozenset[str] = frozenset()
    answer_checks: Mapping[str, ResponseCheck] = field(default_factory=dict)  # phase1.yaml
    pointers: Mapping[str, PointerTable] = field(default_factory=dict)
    rules: Mapping[str, tuple[ShadowRule, ...]] = field(default_factory=dict)  # by operation


def build_cutover(config: Config, phase1: Contract) -> CutoverParts:
    rules = config.routing.shadow
    shadow_only = frozenset(n for n, u in config.upstreams.items() if u.shadow_only)
    check_rules(rules, {op: spec.method for op, spec in phase1.operations.items()}, shadow_only)
    legacy = frozenset(n for n, u in config.upstreams.items() if u.protocol == "phase1")
    by_op: dict[str, tuple[ShadowRule, ...]] = {}
    for rule in rules:
        for op in rule.operations:
            by_op[op] = (*by_op.get(op, ()), rule)
    return CutoverParts(
        legacy=legacy,
        shadow_only=shadow_only,
        answer_checks=MappingProxyType(
            {op: response_check(phase1, spec) for op, spec in phase1.operations.items()}
            if legacy
            else {}
        ),
        pointers=pointer_tables(phase1) if rules else MappingProxyType({}),
        rules=MappingProxyType(by_op),
    )
