"""The snapshot: config, contracts, plans, validators and routing, built once and frozen.

A request reads `holder.current` once and finishes on that object, whatever
reloads happen meanwhile. Building is pure CPU and file reads (no sockets), so
it runs off the event loop; `runtime.py` swaps the reference.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shimgw import resources
from shimgw.answer_cache import AnswerCache
from shimgw.config import Config
from shimgw.contracts.document import Contract, load_contract
from shimgw.contracts.reference import validate_document
from shimgw.contracts.validators import (
    Phase1RequestCheck,
    Phase2RequestCheck,
    ResponseCheck,
    phase1_request_check,
    phase2_request_check,
    response_check,
)
from shimgw.cutover import CutoverParts, build_cutover
from shimgw.errors import TranslationError
from shimgw.files import read_regular
from shimgw.orchestrator import Upstream
from shimgw.routing.canary import Picker
from shimgw.routing.routes import RouteTable, build_routes
from shimgw.translate.check import Report, check_translations
from shimgw.translate.language import load_translations
from shimgw.translate.nodes import ErrorTable, Translations
from shimgw.translate.plan import LocalPlan, ProxyPlan, build_plans
from shimgw.translate.provenance import request_sources
from shimgw.usage import UsageSlots


@dataclass(frozen=True, slots=True)
class LocalOperation:
    """A Phase 1 operation the gateway answers itself, once the request passed phase1.yaml."""

    plan: LocalPlan
    request_check: Phase1RequestCheck


@dataclass(frozen=True, kw_only=True, slots=True)
class ProxyOperation:
    """Everything one proxied Phase 1 operation needs at request time."""

    plan: ProxyPlan
    request_check: Phase1RequestCheck
    call_check: Phase2RequestCheck
    answer_check: ResponseCheck
    answers: AnswerCache | None = None  # None: not memoised (see answer_cache.py)
    reply_check: ResponseCheck | None = None  # phase1.yaml's answers (wirecheck.py)


Operation = LocalOperation | ProxyOperation


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    config: Config
    version: str
    built_at: float
    phase1: Contract
    phase2: Contract
    translations: Translations
    routes: RouteTable
    operations: Mapping[str, Operation]
    errors: ErrorTable
    picker: Picker
    upstreams: Mapping[str, Upstream] = field(default_factory=dict)  # attached by the runtime
    cutover: CutoverParts = field(default_factory=CutoverParts)  # legacy arms, shadow rules
    # Whether a request's routing key is hashed (`key_digest`): named clients or key groups.
    hashes_keys: bool = False
    # Per operation, its constant Deprecation/Sunset/Link lines (only operations that have any)
    lifecycle: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    usage: UsageSlots | None = None  # attached by the runtime (its book outlives snapshots)

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "loaded_at": self.built_at,
            "source": str(self.config.source) if self.config.source else None,
            "contracts": {
                c.name: {"title": c.title, "version": c.version, "sha256": c.sha256}
                for c in (self.phase1, self.phase2)
            },
            "operations": sorted(self.operations),
            "upstreams": {
                n: {"url": u.url, "weight": u.weight} for n, u in self.config.upstreams.items()
            },
            "routes": {op: dict(w) for op, w in self.config.routing.routes.items()},
            "groups": [g.name for g in self.config.routing.groups],
            "clients": [c.name for c in self.config.clients],  # names only, never hashes
            "validation": {"responses": self.config.validation.responses},
        }


# Documents openapi-core has accepted, by content hash: validating one takes ~0.3 s and
# its verdict cannot change for the same bytes.
_VALIDATED: set[str] = set()


def _digest_folder(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.yaml")):
        h.update(path.name.encode())
        h.update(read_regular(path))
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Sources:
    """What a config points at, loaded and checked: the one loading path of `serve`,
    reload and `shimgw check` (which prints the whole report instead of its first line)."""

    phase1: Contract
    phase2: Contract
    folder: Path
    translations: Translations
    report: Report


def load_sources(config: Config | None) -> Sources:
    """Load and check contracts and translations (None: the bundled ones); `ConfigError`
    for unusable input (unreadable, not OpenAPI, a config naming what the contracts lack)."""
    phase1_path = (config and config.contracts.phase1) or resources.phase1_contract()
    phase2_path = (config and config.contracts.phase2) or resources.phase2_contract()
    folder = (config and config.translations) or resources.translations_dir()
    phase1 = load_contract(phase1_path, "contracts.phase1")
    phase2 = load_contract(phase2_path, "contracts.phase2")
    for contract in (phase1, phase2):
        if contract.sha256 not in _VALIDATED:
            validate_document(contract.source, contract.name)
            _VALIDATED.add(contract.sha256)
    for op_id in config.routing.routes if config else ():
        if op_id not in phase1.operations:
            raise TranslationError(f"routing.routes.{op_id}", "not an operationId of phase1.yaml")
    translations = load_translations(folder)
    report = check_translations(translations, phase1, phase2)
    return Sources(phase1, phase2, folder, translations, report)


def build_snapshot(
    config: Config, previous: Snapshot | None = None, sources: Sources | None = None
) -> Snapshot:
    """Build and fully validate a snapshot, or raise `ConfigError` naming what is wrong."""
    sources = sources or load_sources(config)
    phase1, phase2, folder = sources.phase1, sources.phase2, sources.folder
    translations = sources.translations
    problems = sources.report.problems
    if problems:
        raise TranslationError(
            problems[0].where,
            problems[0].problem
            + (
                f" (and {len(problems) - 1} more problems; run `shimgw check`)"
                if len(problems) > 1
                else ""
            ),
        )
    plans = build_plans(translations, phase1, phase2)
    memo = AnswerCache(config.cache.max_bytes) if config.cache.max_bytes else None
    operations = {
        op_id: _operation(plan, phase1, phase2, translations, memo) for op_id, plan in plans.items()
    }
    version = hashlib.sha256(
        "\n".join((config.digest, phase1.sha256, phase2.sha256, _digest_folder(folder))).encode()
    ).hexdigest()
    weights = {name: u.weight for name, u in config.upstreams.items()}
    layout = previous.picker.layout if previous is not None else None
    picker = Picker(config.routing, weights, layout)
    return Snapshot(
        config=config,
        version=version[:16],
        built_at=time.time(),
        phase1=phase1,
        phase2=phase2,
        translations=translations,
        routes=build_routes(phase1),
        operations=MappingProxyType(operations),
        errors=translations.errors,
        picker=picker,
        cutover=build_cutover(config, phase1),
        hashes_keys=bool(config.clients) or picker.hashes_keys,
        lifecycle=MappingProxyType(
            {op: r.lifecycle for op, r in translations.operations.items() if r.lifecycle}
        ),
    )


def _operation(
    plan: LocalPlan | ProxyPlan,
    phase1: Contract,
    phase2: Contract,
    translations: Translations,
    memo: AnswerCache | None,
) -> Operation:
    request_check = phase1_request_check(phase1, phase1.operations[plan.operation])
    if isinstance(plan, LocalPlan):
        return LocalOperation(plan, request_check)
    target = phase2.operations[plan.target]
    sources = request_sources(translations.operations[plan.operation], translations.every_call)
    return ProxyOperation(
        plan=plan,
        request_check=request_check,
        call_check=phase2_request_check(phase2, target, sources),
        answer_check=response_check(phase2, target),
        answers=memo if plan.memoisable else None,
        reply_check=response_check(phase1, phase1.operations[plan.operation]),
    )
