"""The three faces of a `shimgw check` result: text for people, JSON and JUnit XML for CI.

JUnit has one test case per Phase 1 operation (failed when a problem names its
translation file or is reached through it) and one per problem, so a CI page lists
both "which operation is broken" and "every line to fix".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

if TYPE_CHECKING:
    from shimgw.checkcmd import CheckResult
    from shimgw.translate.walker import Problem


def render(result: CheckResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(_as_data(result), indent=2) + "\n"
    if fmt == "junit":
        return _junit(result)
    return _text(result)


def _text(result: CheckResult) -> str:
    s, report = result.sources, result.sources.report
    lines = [
        f"contracts: {s.phase1.source} ({s.phase1.title} {s.phase1.version}), "
        f"{s.phase2.source} ({s.phase2.title} {s.phase2.version})",
        f"translations: {s.folder}",
        "",
    ]
    width = max(len("Phase 1 operation"), *(len(op) for op, _, _ in report.coverage))
    lines.append(f"{'Phase 1 operation':<{width}}  {'state':<16}  detail")
    for op, state, detail in report.coverage:
        lines.append(f"{op:<{width}}  {state:<16}  {detail}")
    counts = {
        state: sum(1 for _, st, _ in report.coverage if st == state)
        for state in ("translated", "answered locally", "missing")
    }
    lines.append(
        f"\n{counts['translated']} translated, {counts['answered locally']} answered "
        f"locally, {counts['missing']} missing"
    )
    if result.generated:
        lines.append("\ngenerated examples (phase1-valid requests, phase2-valid answers):")
        for op, kinds in result.generated.items():
            lines.append(f"  {op:<{width}}  " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
    if result.warnings:
        lines.append(f"\n{len(result.warnings)} warning(s):")
        lines += [f"  {w}" for w in result.warnings]
    if result.problems:
        lines.append(f"\n{len(result.problems)} problem(s):")
        lines += [f"  {p}" for p in result.problems]
    else:
        lines.append("no problems")
    return "\n".join(lines) + "\n"


def _finding(p: Problem) -> dict[str, Any]:
    return {"where": p.where, "problem": p.problem, "via": list(p.via), "line": str(p)}


def _as_data(result: CheckResult) -> dict[str, Any]:
    s = result.sources
    return {
        "exit_code": result.exit_code,
        "contracts": {
            c.name: {"path": str(c.source), "title": c.title, "version": c.version}
            for c in (s.phase1, s.phase2)
        },
        "translations": str(s.folder),
        "coverage": [
            {"operation": op, "state": state, "detail": detail}
            for op, state, detail in s.report.coverage
        ],
        "generated": result.generated,
        "problems": [_finding(p) for p in result.problems],
        "warnings": [_finding(w) for w in result.warnings],
    }


def _touches(problem: Problem, source: str) -> bool:
    return problem.where.startswith(f"{source}:") or any(
        v.startswith(f"{source}:") for v in problem.via
    )


def _junit(result: CheckResult) -> str:
    s = result.sources
    suite = ET.Element("testsuite", name="shimgw check")
    failures = 0
    for op, state, detail in s.report.coverage:
        case = ET.SubElement(suite, "testcase", classname="shimgw.operations", name=op)
        rules = s.translations.operations.get(op)
        mine = [
            p for p in result.problems if (rules and _touches(p, rules.source)) or p.where == op
        ]
        mine += [p for p in result.problems if p.where.startswith(f"{op} ")]  # generated ones
        if mine:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{len(mine)} problem(s)")
            failure.text = "\n".join(str(p) for p in mine)
        out = [
            f"{state}: {detail}",
            *(str(w) for w in result.warnings if rules and _touches(w, rules.source)),
        ]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    for problem in result.problems:
        case = ET.SubElement(suite, "testcase", classname="shimgw.problems", name=problem.where)
        ET.SubElement(case, "failure", message=problem.problem).text = str(problem)
        failures += 1
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
