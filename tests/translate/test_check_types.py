"""`shimgw check` proves the mappings type-safe: each test changes a COPY of a contract
(or of the translations) the way a real drift would, and asserts the exact problem line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shimgw import resources
from shimgw.contracts.document import load_contract
from shimgw.translate.check import Report, check_translations
from shimgw.translate.language import parse_documents

Raw = dict[str, Any]
USERS = (
    " (via cancelJob.yaml: responses.200.body, createJob.yaml: responses.202.body,"
    " getJob.yaml: responses.200.body, listJobs.yaml: responses.200.body.jobs,"
    " setJobPriority.yaml: responses.200.body)"
)


def check(
    tmp_path: Path,
    phase2: Callable[[Raw], Any] = lambda raw: None,
    docs: Callable[[Raw], Any] = lambda d: None,
) -> Report:
    raw = yaml.safe_load(resources.phase2_contract().read_text())
    phase2(raw)
    (tmp_path / "phase2.yaml").write_text(yaml.safe_dump(raw))
    translations = {
        p.name: yaml.safe_load(p.read_text())
        for p in sorted(resources.translations_dir().glob("*.yaml"))
    }
    docs(translations)
    return check_translations(
        parse_documents(list(translations.items())),
        load_contract(resources.phase1_contract(), "contracts.phase1"),
        load_contract(tmp_path / "phase2.yaml", "contracts.phase2"),
    )


def schemas(raw: Raw) -> Raw:
    found: Raw = raw["components"]["schemas"]
    return found


def test_the_bundled_files_are_clean_with_one_reasoned_warning(tmp_path: Path) -> None:
    report = check(tmp_path)
    assert report.problems == []
    assert [str(w) for w in report.warnings] == [
        "listJobs.yaml: request.query.label: cannot decide: whether the constant 'owner=' +"
        " phase1.yaml listJobs query.owner always matches phase2.yaml listRuns query parameter"
        " 'label' pattern ^[a-z][a-z0-9_.-]{0,62}=.{0,256}$; a request that breaks it is"
        " refused with 400"
    ]


@pytest.mark.parametrize(
    ("mutate", "line"),
    [
        (
            lambda raw: schemas(raw)["Run"]["properties"].__setitem__(
                "priority", {"type": "string"}
            ),
            "_common.yaml: shapes.job.priority.pipe[0]: buckets needs number, but phase2.yaml"
            " Run.priority is string" + USERS,
        ),
        (
            lambda raw: schemas(raw)["RunState"]["enum"].append("PAUSED"),
            "_common.yaml: shapes.job.status.pipe[0]: map does not cover source values ['PAUSED']"
            " of phase2.yaml RunState" + USERS,
        ),
        (
            lambda raw: schemas(raw)["Run"]["required"].remove("displayName"),
            "_common.yaml: shapes.job.name: phase2.yaml Run.displayName is optional and the rule"
            " has no default; phase1.yaml Job.name is required" + USERS,
        ),
        (
            lambda raw: schemas(raw)["RunCreate"]["properties"]["priority"].__setitem__(
                "maximum", 60
            ),
            "createJob.yaml: request.body.priority: yields [80] from phase1.yaml Priority through"
            " map; phase2.yaml RunCreate.priority does not allow it",
        ),
        (
            lambda raw: raw["components"]["parameters"]["RunId"]["schema"].__setitem__(
                "pattern", "^run-[0-9]{1,9}$"
            ),
            "getJob.yaml: request.path.runId: phase1.yaml getJob path.job_id through template can"
            " be 'run-1000000000'; phase2.yaml getRun path parameter 'runId' pattern is"
            " ^run-[0-9]{1,9}$; a request that breaks it is refused with 400",
        ),
    ],
    ids=["priority-string", "new-state", "optional-source", "priority-bound", "run-id-pattern"],
)
def test_contract_drift_is_one_exact_problem_line(
    tmp_path: Path, mutate: Callable[[Raw], Any], line: str
) -> None:
    found = [str(p) for p in check(tmp_path, phase2=mutate).problems]
    assert line in found, found


def test_run_0_is_found_when_the_rule_does_not_refuse_it(tmp_path: Path) -> None:
    def drop_within(docs: Raw) -> None:
        docs["_common.yaml"]["shapes"]["job"]["object"]["job_id"]["pipe"].pop()

    found = [str(p) for p in check(tmp_path, docs=drop_within).problems]
    assert found == [
        "_common.yaml: shapes.job.job_id: phase2.yaml Run.id through strip_prefix through to_int"
        " can reach 0; phase1.yaml Job.job_id minimum is 1" + USERS
    ]


def test_a_default_makes_an_optional_source_safe(tmp_path: Path) -> None:
    def optional(raw: Raw) -> None:
        schemas(raw)["Run"]["required"].remove("displayName")

    def with_default(docs: Raw) -> None:
        docs["_common.yaml"]["shapes"]["job"]["object"]["name"]["default"] = ""

    assert check(tmp_path, phase2=optional, docs=with_default).problems == []


def test_a_bound_derived_through_arithmetic_is_decided(tmp_path: Path) -> None:
    def unbounded(raw: Raw) -> None:  # /v2 skip now has a maximum the rule cannot be held to
        params = raw["paths"]["/v2/runs"]["get"]["parameters"]
        next(p for p in params if p.get("name") == "skip")["schema"]["maximum"] = 500

    found = [str(p) for p in check(tmp_path, phase2=unbounded).problems]
    assert any(
        "listJobs.yaml: request.query.skip: mul of sub of phase1.yaml listJobs query.page" in p
        and "can reach 999900; phase2.yaml listRuns query parameter 'skip' maximum is 500" in p
        for p in found
    ), found
