"""`shimgw check`: the static check (and, with `--generate N`, the generated one) of the
translations against both contracts, for people (`text`) and CI (`json`, `junit`).

It loads through `snapshot.load_sources` and builds with `snapshot.build_snapshot`,
the functions `serve` and reload use, so all three refuse the same input with the same
line. Exit codes: 0 clean (warnings allowed), 1 problems, 2 unusable input (a config,
contract or translation file that cannot be loaded; the CLI prints its one line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from shimgw.checkreport import render
from shimgw.config import load_config
from shimgw.snapshot import Sources, build_snapshot, load_sources
from shimgw.translate.plan import build_plans
from shimgw.translate.walker import Problem


@dataclass(slots=True)
class CheckResult:
    sources: Sources
    problems: list[Problem]
    warnings: list[Problem]
    generated: dict[str, dict[str, int]] = field(default_factory=dict)  # op → kind → count

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def run_check(
    config_path: Path | None,
    out: TextIO,
    *,
    fmt: str = "text",
    generate: int = 0,
    seed: int | None = 0,
) -> int:
    config = load_config(config_path) if config_path is not None else None
    sources = load_sources(config)
    result = CheckResult(sources, list(sources.report.problems), list(sources.report.warnings))
    if not result.problems:
        if config is not None:
            build_snapshot(config, sources=sources)  # the very build serve would do
        else:
            build_plans(sources.translations, sources.phase1, sources.phase2)
        if generate > 0:
            from shimgw.generate import generate_all

            found, counts = generate_all(sources, generate, seed)
            result.problems.extend(found)
            result.generated = counts
    out.write(render(result, fmt))
    return result.exit_code
