"""`shimgw check`: the static check of translations against contracts, for people and CI."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from shimgw import resources
from shimgw.config import load_config
from shimgw.contracts.document import load_contract
from shimgw.contracts.reference import load_openapi
from shimgw.errors import ConfigError
from shimgw.translate.check import check_translations
from shimgw.translate.language import load_translations
from shimgw.translate.plan import build_plans


def run_check(config_path: Path | None, out: TextIO) -> int:
    phase1_path, phase2_path = resources.phase1_contract(), resources.phase2_contract()
    folder = resources.translations_dir()
    if config_path is not None:
        config = load_config(config_path)
        phase1_path = config.contracts.phase1 or phase1_path
        phase2_path = config.contracts.phase2 or phase2_path
        folder = config.translations or folder
    phase1 = load_contract(phase1_path, "contracts.phase1")
    phase2 = load_contract(phase2_path, "contracts.phase2")
    load_openapi(phase1_path, "contracts.phase1")
    load_openapi(phase2_path, "contracts.phase2")
    translations = load_translations(folder)
    report = check_translations(translations, phase1, phase2)
    problems = [str(p) for p in report.problems]
    if not problems:
        try:
            build_plans(translations, phase1, phase2)
        except ConfigError as exc:
            problems.append(str(exc))
    out.write(
        f"contracts: {phase1_path} ({phase1.title} {phase1.version}), "
        f"{phase2_path} ({phase2.title} {phase2.version})\n"
    )
    out.write(f"translations: {folder}\n\n")
    width = max(len("Phase 1 operation"), *(len(op) for op, _, _ in report.coverage))
    out.write(f"{'Phase 1 operation':<{width}}  {'state':<16}  detail\n")
    for op, state, detail in report.coverage:
        out.write(f"{op:<{width}}  {state:<16}  {detail}\n")
    counts = {
        s: sum(1 for _, st, _ in report.coverage if st == s)
        for s in ("translated", "answered locally", "missing")
    }
    out.write(
        f"\n{counts['translated']} translated, {counts['answered locally']} answered "
        f"locally, {counts['missing']} missing\n"
    )
    if problems:
        out.write(f"\n{len(problems)} problem(s):\n")
        for problem in problems:
            out.write(f"  {problem}\n")
        return 1
    out.write("no problems\n")
    return 0
