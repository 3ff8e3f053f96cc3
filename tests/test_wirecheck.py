"""The on-the-wire check: the gateway's own Phase 1 answer is held to phase1.yaml before it
leaves. Exercised with a translation the static check would refuse (run-0 let through), so
the last line of defence is the only one left; real snapshot, handler functions, no sockets."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from shimgw import resources
from shimgw.config import parse_config
from shimgw.errors import AnswerContractViolation
from shimgw.exchange import Exchange, translate
from shimgw.messages import ABSENT, ParsedRequest, V2Response
from shimgw.runtime import Runtime
from shimgw.server import Gateway
from shimgw.snapshot import ProxyOperation, Snapshot, build_snapshot, load_sources
from shimgw.translate.walker import Report

RUN = {
    "id": "run-0",
    "displayName": "n",
    "plugin": {"id": "spark", "version": "1"},
    "state": "RUNNING",
    "priority": 50,
    "labels": {"owner": "o"},
    "tags": [],
    "parameters": {},
    "createTime": "2024-01-01T00:00:00Z",
    "updateTime": "2024-01-01T00:00:00Z",
    "etag": "e",
}


def drifted_snapshot(tmp_path: Path, mode: str) -> Snapshot:
    folder = tmp_path / "translations"
    shutil.copytree(resources.translations_dir(), folder)
    common = yaml.safe_load((folder / "_common.yaml").read_text())
    common["shapes"]["job"]["object"]["job_id"]["pipe"].pop()  # no `within`: run-0 → 0
    (folder / "_common.yaml").write_text(yaml.safe_dump(common))
    config = parse_config(
        {
            "upstreams": {"stable": {"url": "http://127.0.0.1:9"}},
            "translations": str(folder),
            "validation": {"responses": mode},
        },
        base=tmp_path,
    )
    sources = load_sources(config)
    assert sources.report.problems  # the static check would refuse it: skip it on purpose
    return build_snapshot(config, sources=dataclasses.replace(sources, report=Report()))


def get_job(snapshot: Snapshot, run: dict[str, Any]) -> tuple[Any, Exchange]:
    op = snapshot.operations["getJob"]
    assert isinstance(op, ProxyOperation)
    body = orjson.dumps(run)
    answer = V2Response(status=200, headers={}, content_type="application/json", body=body)
    ex = Exchange(
        rid="rid-1",
        method="GET",
        path="/api/v1/jobs/1",
        started=0.0,
        operation="getJob",
        upstream="stable",
    )
    parsed = ParsedRequest(operation="getJob", path={"job_id": 1}, query={}, headers={})
    try:
        return translate(snapshot, op, parsed, answer, ex), ex
    except AnswerContractViolation as violation:
        return violation, ex


def test_enforce_answers_502_naming_the_field_logs_both_sides_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = drifted_snapshot(tmp_path, "enforce")
    gateway = Gateway(Runtime(snapshot))
    with caplog.at_level(logging.WARNING, logger="shimgw"):
        outcome, ex = get_job(snapshot, RUN)
        response = gateway._finish(snapshot, ex, outcome)
    assert response.status == 502
    assert isinstance(response.body, bytes)
    body = orjson.loads(response.body)
    assert body["code"] == 502 and body["request_id"] == "rid-1"
    assert "body.job_id" in body["error"] and "minimum of 1" in body["error"]
    assert gateway.metrics.violations.labels("phase1", "getJob", "sent")._value.get() == 1
    logged = [r for r in caplog.records if r.name == "shimgw"]
    assert [r.getMessage() for r in logged] == ["phase1 contract violation (sent)"]  # one line
    fields = logged[0].__dict__["fields"]
    assert '"job_id":0' in fields["phase1_answer"] and '"id":"run-0"' in fields["v2_answer"]


def test_report_passes_the_answer_but_counts_it(tmp_path: Path) -> None:
    snapshot = drifted_snapshot(tmp_path, "report")
    gateway = Gateway(Runtime(snapshot))
    outcome, ex = get_job(snapshot, RUN)
    response = gateway._finish(snapshot, ex, outcome)
    assert response.status == 200 and isinstance(response.body, bytes)
    assert orjson.loads(response.body)["job_id"] == 0
    assert gateway.metrics.violations.labels("phase1", "getJob", "sent")._value.get() == 1


def test_off_skips_the_check(tmp_path: Path) -> None:
    snapshot = drifted_snapshot(tmp_path, "off")
    outcome, ex = get_job(snapshot, RUN)
    assert ex.sent_violation is None and outcome.status == 200


def test_a_good_answer_passes_and_is_memoised(tmp_path: Path) -> None:
    snapshot = drifted_snapshot(tmp_path, "enforce")
    outcome, ex = get_job(snapshot, {**RUN, "id": "run-5"})
    assert ex.sent_violation is None and orjson.loads(outcome.body)["job_id"] == 5


def test_error_answers_from_the_status_table_are_checked_too(tmp_path: Path) -> None:
    folder = tmp_path / "translations"
    shutil.copytree(resources.translations_dir(), folder)
    common = yaml.safe_load((folder / "_common.yaml").read_text())
    common["errors"]["keep_headers"][429] = []  # Retry-After dropped: Phase 1 429 requires it
    (folder / "_common.yaml").write_text(yaml.safe_dump(common))
    config = parse_config(
        {"upstreams": {"stable": {"url": "http://127.0.0.1:9"}}, "translations": str(folder)},
        base=tmp_path,
    )
    sources = load_sources(config)
    assert sources.report.problems  # the static check would refuse this too
    snapshot = build_snapshot(config, sources=dataclasses.replace(sources, report=Report()))
    op = snapshot.operations["getJob"]
    assert isinstance(op, ProxyOperation)
    problem = b'{"type":"about:blank","title":"Too Many Requests","status":429}'
    answer = V2Response(
        status=429,
        headers={"retry-after": "3"},
        content_type="application/problem+json",
        body=problem,
    )
    ex = Exchange(
        rid="rid-2",
        method="GET",
        path="/api/v1/jobs/1",
        started=0.0,
        operation="getJob",
        upstream="stable",
    )
    parsed = ParsedRequest(operation="getJob", path={"job_id": 1}, query={}, headers={})
    with pytest.raises(AnswerContractViolation, match="Retry-After"):
        translate(snapshot, op, parsed, answer, ex)


def test_report_and_off_modes_decode_big_integers_exactly_too() -> None:
    # An answer that is not checked (or broke its contract in report mode) is still decoded
    # for translation; its integers must not turn into floats on that path either.
    from shimgw.exchange import lenient_decode

    big = 123456789012345678901234567890
    answer = V2Response(
        status=200,
        headers={},
        content_type="application/json",
        body=b'{"n": %d, "m": -9223372036854775809}' % big,
    )
    assert lenient_decode(answer) == {"n": big, "m": -(2**63) - 1}
    broken = V2Response(status=200, headers={}, content_type="application/json", body=b"{")
    assert lenient_decode(broken) is ABSENT
