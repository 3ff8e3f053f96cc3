"""`check_translations` finds each kind of drift between translations and contracts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from shimgw import resources
from shimgw.contracts.document import Contract, parse_contract
from shimgw.translate.check import check_translations
from shimgw.translate.language import parse_documents

Docs = dict[str, dict[Any, Any]]


@pytest.fixture(scope="module")
def pristine() -> Docs:
    return {
        p.name: yaml.safe_load(p.read_text())
        for p in sorted(resources.translations_dir().glob("*.yaml"))
    }


def problems(
    pristine: Docs, contracts: tuple[Contract, Contract], mutate: Callable[[Docs], Any]
) -> list[str]:
    docs = copy.deepcopy(pristine)
    mutate(docs)
    report = check_translations(parse_documents(list(docs.items())), *contracts)
    return [str(p) for p in report.problems]


def job(docs: Docs) -> dict[str, Any]:
    shape: dict[str, Any] = docs["_common.yaml"]["shapes"]["job"]["object"]
    return shape


def test_bundled_translations_are_clean(
    pristine: Docs, contracts: tuple[Contract, Contract]
) -> None:
    assert problems(pristine, contracts, lambda d: None) == []


def test_coverage_table(pristine: Docs, contracts: tuple[Contract, Contract]) -> None:
    report = check_translations(parse_documents(list(pristine.items())), *contracts)
    states = {op: state for op, state, _ in report.coverage}
    assert states["getJobStats"] == "answered locally"
    details = {op: detail for op, _, detail in report.coverage}
    assert details["getJobStats"] == "410 (getJobStats.yaml); sunset Fri, 01 Jan 2027 00:00:00 GMT"
    assert details["getJob"] == "→ getRun (getJob.yaml)"
    assert sum(1 for s in states.values() if s == "translated") == 9
    docs = copy.deepcopy(pristine)
    del docs["listEngines.yaml"]
    report = check_translations(parse_documents(list(docs.items())), *contracts)
    assert ("listEngines", "missing", "no translation") in report.coverage
    assert any("listEngines" in str(p) for p in report.problems)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["getJob.yaml"].__setitem__("target", "getRunz"),
            "getJob.yaml: target: 'getRunz' is not an operationId of phase2.yaml",
        ),
        (
            lambda d: d["getJob.yaml"].__setitem__("operation", "getJobz"),
            "'getJobz' is not an operationId of phase1.yaml",
        ),
        (
            lambda d: job(d)["name"].__setitem__("from", "it.display_name"),
            "_common.yaml: shapes.job.name: reads it.display_name, which the source schema",
        ),
        (
            lambda d: d["createJob.yaml"]["request"]["body"]["object"]["labels"]["object"][
                "owner"
            ].__setitem__("from", "body.ownr"),
            "request.body.labels.owner: reads body.ownr",
        ),
        (
            lambda d: job(d).__setitem__("extra", {"from": "it.id"}),
            "_common.yaml: shapes.job.extra: writes a field the target schema does not have"
            " (phase1.yaml Job.extra)",
        ),
        (
            lambda d: d["createJob.yaml"]["request"]["body"]["object"].__setitem__(
                "displayNam", d["createJob.yaml"]["request"]["body"]["object"].pop("displayName")
            ),
            "request.body.displayNam: writes a field",
        ),
        (
            lambda d: d["createJob.yaml"]["request"]["body"]["object"].pop("displayName"),
            "createJob.yaml: request.body: does not write required field 'displayName'",
        ),
        (lambda d: job(d).pop("owner"), "does not write required field 'owner'"),
        (
            lambda d: job(d)["status"]["pipe"][0]["map"].pop("SCHEDULED"),
            "map does not cover source values ['SCHEDULED']",
        ),
        (
            lambda d: job(d)["status"]["pipe"][0]["map"].__setitem__("PENDING", "WAITING"),
            "_common.yaml: shapes.job.status: yields ['WAITING'] from phase2.yaml RunState through"
            " map; phase1.yaml JobStatus does not allow it",
        ),
        (
            lambda d: d["_common.yaml"]["shapes"]["priority_value"]["pipe"][0]["map"].pop("low"),
            "map does not cover source values ['low']",
        ),
        (
            lambda d: d["_common.yaml"]["shapes"]["priority_value"]["pipe"][0]["map"].__setitem__(
                "low", 200
            ),
            "createJob.yaml: request.body.priority: yields [200] from phase1.yaml Priority through"
            " map; phase2.yaml RunCreate.priority does not allow it",
        ),
        (
            lambda d: job(d)["priority"]["pipe"][0]["buckets"][0].__setitem__("value", "urgent"),
            "_common.yaml: shapes.job.priority: yields ['urgent'] from phase2.yaml Run.priority"
            " through buckets; phase1.yaml Priority does not allow it",
        ),
        (
            lambda d: d["listJobs.yaml"]["request"]["query"]["state"]["pipe"][0]["map"].__setitem__(
                "QUEUED", ["WAITING"]
            ),
            "yields ['WAITING'",
        ),
        (
            lambda d: d["listJobs.yaml"]["request"]["query"].__setitem__(
                "pagesize", d["listJobs.yaml"]["request"]["query"].pop("pageSize")
            ),
            "listRuns has no query parameter 'pagesize'",
        ),
        (
            lambda d: d["getJob.yaml"]["request"].pop("path"),
            "required /v2 path parameter 'runId' is not written",
        ),
        (
            lambda d: d["listEngines.yaml"]["responses"][200]["body"]["object"]["engines"][
                "pipe"
            ].__setitem__(1, {"pluck": "name"}),
            "plucks 'name', which the elements do not have",
        ),
        (
            lambda d: d["getStatus.yaml"]["responses"][200]["body"]["object"]["status"][
                "then"
            ].__setitem__("const", "fine"),
            "getStatus.yaml: responses.200.body.status: yields ['fine'] from the constant 'fine' or"
            " the constant 'degraded'; phase1.yaml getStatus 200 body.status does not allow it",
        ),
        (
            lambda d: d["getJob.yaml"]["responses"].__setitem__(
                201, d["getJob.yaml"]["responses"].pop(200)
            ),
            "no rule for getRun's 200 answer",
        ),
        (
            lambda d: d["getJob.yaml"]["responses"][200].__setitem__("status", 202),
            "getJob does not promise 202",
        ),
        (
            lambda d: d["deleteJob.yaml"]["responses"][204].__setitem__("body", {"const": {}}),
            "Phase 1 status 204 has no body",
        ),
        (
            lambda d: d["setJobPriority.yaml"]["request"].pop("body"),
            "updateRun requires a body; none is written",
        ),
        (
            lambda d: d["_common.yaml"]["errors"]["keep_headers"].__setitem__(429, []),
            "errors.keep_headers.429: Phase 1 429 answers require Retry-After",
        ),
        (
            lambda d: d["_common.yaml"]["errors"]["status"].__setitem__(404, 418),
            "errors.status.404: maps to 418, which no Phase 1 operation promises",
        ),
        (
            lambda d: d["_common.yaml"]["every_call"]["headers"].__setitem__(
                "X-Owner", {"from": "body.ownr"}
            ),
            "request.headers.X-Owner: reads body.ownr",
        ),
        (
            lambda d: d["getJob.yaml"]["responses"][200].__setitem__(
                "headers", {"X-Etag": {"from": "body.no_such_field"}}
            ),
            "responses.200.headers.X-Etag: reads body.no_such_field",
        ),
    ],
)
def test_drift_is_found(
    pristine: Docs,
    contracts: tuple[Contract, Contract],
    mutate: Callable[[Docs], Any],
    expected: str,
) -> None:
    found = problems(pristine, contracts, mutate)
    assert any(expected in p for p in found), found


def test_required_v2_header_must_be_written(
    pristine: Docs, contracts: tuple[Contract, Contract]
) -> None:
    raw = yaml.safe_load(contracts[1].source.read_text())
    raw["paths"]["/v2/runs"]["post"]["parameters"][1]["required"] = True  # Idempotency-Key
    phase2 = parse_contract(raw, contracts[1].source, "phase2")
    report = check_translations(parse_documents(list(pristine.items())), contracts[0], phase2)
    assert any(
        "createJob.yaml: request.headers: required /v2 header 'Idempotency-Key'" in str(p)
        for p in report.problems
    )


@pytest.mark.parametrize(
    ("schema", "fits"),
    [
        ({"type": "string", "pattern": "^@[0-9]+$"}, True),
        ({"type": "string", "pattern": "^[0-9]+$"}, False),
        ({"type": "integer"}, False),
    ],
)
def test_a_lifecycle_header_phase1_declares_must_fit_it(
    pristine: Docs, contracts: tuple[Contract, Contract], schema: dict[str, Any], fits: bool
) -> None:
    raw = yaml.safe_load(contracts[0].source.read_text())
    answer = raw["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]
    answer["headers"]["Deprecation"] = {"schema": schema}
    phase1 = parse_contract(raw, contracts[0].source, "phase1")
    docs = copy.deepcopy(pristine)
    docs["getJob.yaml"]["lifecycle"] = {"deprecation": "2026-06-01T00:00:00Z"}
    report = check_translations(parse_documents(list(docs.items())), phase1, contracts[1])
    found = [str(p) for p in report.problems if "lifecycle" in str(p)]
    if fits:
        assert found == []
    else:
        assert len(found) == 1
        assert "getJob.yaml: lifecycle" in found[0] and "declares Deprecation" in found[0]
