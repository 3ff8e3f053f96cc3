"""The compiled validators agree with openapi-core on one corpus of good and bad messages.

openapi-core is the reference; the gateway's hot path uses jsonschema-rs validators
compiled once per snapshot. Each row goes through both and both must say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from shimgw import resources
from shimgw.contracts.document import Contract, load_contract
from shimgw.contracts.validators import (
    phase1_request_check,
    phase2_request_check,
    response_check,
)
from shimgw.errors import GatewayError
from shimgw.messages import ABSENT, V2Request
from shimgw.reference.contract import Contract as Oracle
from shimgw.reference.contract import RequestInfo
from shimgw.reference.contract import load_contract as load_oracle


@pytest.fixture(scope="module")
def docs() -> tuple[Contract, Contract]:
    return (
        load_contract(resources.phase1_contract(), "phase1"),
        load_contract(resources.phase2_contract(), "phase2"),
    )


@pytest.fixture(scope="module")
def oracles() -> tuple[Oracle, Oracle]:
    return load_oracle(resources.phase1_contract()), load_oracle(resources.phase2_contract())


JOB = {
    "job_id": 1,
    "name": "n",
    "engine": "e",
    "owner": "",
    "status": "QUEUED",
    "priority": "low",
    "params": {},
    "tags": [],
    "created": 1,
    "updated": 2,
    "started": None,
    "finished": None,
    "exit_code": None,
    "callback_url": None,
}
RUN = {
    "id": "run-1",
    "displayName": "n",
    "plugin": {"id": "p", "version": "1"},
    "state": "PENDING",
    "priority": 5,
    "labels": {"owner": "o"},
    "tags": [],
    "parameters": {"a": 1, "b": "x", "c": False},
    "createTime": "2024-01-01T00:00:00Z",
    "updateTime": "2024-01-01T00:00:00.5+02:00",
    "etag": "e",
}
CREATE = {"name": "n", "engine": "spark", "owner": "o"}

# operation, path params, query, content type, body
PHASE1_REQUESTS: list[tuple[str, dict[str, str], dict[str, str], str, Any]] = [
    ("createJob", {}, {}, "application/json", CREATE),
    (
        "createJob",
        {},
        {},
        "application/json",
        {
            **CREATE,
            "priority": "high",
            "tags": ["a"],
            "params": {"x": 1.5, "y": True},
            "callback_url": "https://x/y",
        },
    ),
    ("createJob", {}, {}, "application/json", {**CREATE, "name": ""}),
    ("createJob", {}, {}, "application/json", {**CREATE, "name": "x" * 129}),
    ("createJob", {}, {}, "application/json", {**CREATE, "engine": "9lives"}),
    ("createJob", {}, {}, "application/json", {**CREATE, "priority": "urgent"}),
    ("createJob", {}, {}, "application/json", {**CREATE, "tags": ["a", "a"]}),
    ("createJob", {}, {}, "application/json", {**CREATE, "tags": [""]}),
    ("createJob", {}, {}, "application/json", {**CREATE, "params": {"x": [1]}}),
    ("createJob", {}, {}, "application/json", {**CREATE, "params": {"x": None}}),
    ("createJob", {}, {}, "application/json", {**CREATE, "callback_url": "ftp://x"}),
    ("createJob", {}, {}, "application/json", {**CREATE, "unknown": 1}),
    ("createJob", {}, {}, "application/json", {"name": "n", "engine": "spark"}),
    ("createJob", {}, {}, "application/json", [CREATE]),
    ("createJob", {}, {}, "application/json", "text"),
    ("getJob", {"job_id": "1"}, {}, "", None),
    ("getJob", {"job_id": "999999999999999999"}, {}, "", None),
    ("getJob", {"job_id": "0"}, {}, "", None),
    ("getJob", {"job_id": "-3"}, {}, "", None),
    ("getJob", {"job_id": "abc"}, {}, "", None),
    ("getJob", {"job_id": "1.5"}, {}, "", None),
    ("listJobs", {}, {}, "", None),
    ("listJobs", {}, {"status": "QUEUED", "owner": "x", "page": "2", "per_page": "100"}, "", None),
    ("listJobs", {}, {"status": "queued"}, "", None),
    ("listJobs", {}, {"owner": ""}, "", None),
    ("listJobs", {}, {"page": "0"}, "", None),
    ("listJobs", {}, {"page": "10001"}, "", None),
    ("listJobs", {}, {"per_page": "101"}, "", None),
    ("listJobs", {}, {"per_page": "ten"}, "", None),
    ("setJobPriority", {"job_id": "1"}, {}, "application/json", {"priority": "low"}),
    ("setJobPriority", {"job_id": "1"}, {}, "application/json", {"priority": "LOW"}),
    ("setJobPriority", {"job_id": "1"}, {}, "application/json", {}),
    ("setJobPriority", {"job_id": "1"}, {}, "application/json", {"priority": "low", "x": 1}),
    ("getJobLogs", {"job_id": "1"}, {"tail": "10000"}, "", None),
    ("getJobLogs", {"job_id": "1"}, {"tail": "10001"}, "", None),
    ("getJobLogs", {"job_id": "1"}, {"tail": "0"}, "", None),
]


@pytest.mark.parametrize(("op", "path", "query", "ctype", "body"), PHASE1_REQUESTS)
def test_phase1_requests_agree(
    docs: tuple[Contract, Contract],
    oracles: tuple[Oracle, Oracle],
    op: str,
    path: dict[str, str],
    query: dict[str, str],
    ctype: str,
    body: Any,
) -> None:
    spec = docs[0].operations[op]
    raw = orjson.dumps(body) if body is not None else b""
    url = spec.path
    for name, value in path.items():
        url = url.replace("{" + name + "}", value)
    headers = (("Content-Type", ctype),) if ctype else ()
    reference = oracles[0].check_request(
        RequestInfo(spec.method, url, tuple(query.items()), headers), raw
    )
    try:
        phase1_request_check(docs[0], spec).parse(path, query, {}, ctype, raw)
        ours: list[str] = []
    except GatewayError as exc:
        ours = [exc.message]
    assert bool(ours) == bool(reference), f"ours={ours} openapi-core={reference}"


# operation, path params, query, headers, body (ABSENT: none)
PHASE2_REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str], Any]] = [
    ("getRun", {"runId": "run-1"}, {}, {"X-Correlation-ID": "abc"}, ABSENT),
    ("getRun", {"runId": "job-1"}, {}, {}, ABSENT),
    ("getRun", {"runId": "run-1"}, {}, {"X-Correlation-ID": "bad id"}, ABSENT),
    ("listRuns", {}, {"state": ["PENDING", "SCHEDULED"], "pageSize": 20, "skip": 0}, {}, ABSENT),
    ("listRuns", {}, {"state": ["WAITING"]}, {}, ABSENT),
    ("listRuns", {}, {"label": ["owner=x=y"]}, {}, ABSENT),
    ("listRuns", {}, {"label": ["Owner=x"]}, {}, ABSENT),
    ("listRuns", {}, {"label": ["owner=a\nb"]}, {}, ABSENT),
    ("listRuns", {}, {"pageSize": 201}, {}, ABSENT),
    ("listRuns", {}, {"skip": 1000001}, {}, ABSENT),
    (
        "createRun",
        {},
        {},
        {},
        {"displayName": "n", "plugin": {"id": "p"}, "labels": {"owner": "o"}, "priority": 50},
    ),
    ("createRun", {}, {}, {}, {"displayName": "n", "plugin": {"id": "p"}, "labels": {}}),
    (
        "createRun",
        {},
        {},
        {},
        {"displayName": "n", "plugin": {"id": "p"}, "labels": {"owner": "o"}, "priority": 101},
    ),
    (
        "createRun",
        {},
        {},
        {},
        {"displayName": "n", "plugin": {"id": "p"}, "labels": {"owner": "o", "Bad Key": "x"}},
    ),
    ("updateRun", {"runId": "run-1"}, {}, {}, {"priority": 20}),
    ("updateRun", {"runId": "run-1"}, {}, {}, {}),
    ("updateRun", {"runId": "run-1"}, {}, {}, {"state": "RUNNING"}),
]


@pytest.mark.parametrize(("op", "path", "query", "headers", "body"), PHASE2_REQUESTS)
def test_phase2_requests_agree(
    docs: tuple[Contract, Contract],
    oracles: tuple[Oracle, Oracle],
    op: str,
    path: dict[str, Any],
    query: dict[str, Any],
    headers: dict[str, str],
    body: Any,
) -> None:
    spec = docs[1].operations[op]
    ctype = next(iter(spec.body), None) if body is not ABSENT else None
    call = V2Request(
        operation=op,
        method=spec.method,
        path=spec.path,
        path_params=path,
        query=query,
        headers=headers,
        body=body,
        content_type=ctype,
    )
    url = spec.path
    for name, value in path.items():
        url = url.replace("{" + name + "}", str(value))
    wire_headers = tuple(headers.items()) + ((("Content-Type", ctype),) if ctype else ())
    reference = oracles[1].check_request(
        RequestInfo(spec.method, url, tuple(call.query_pairs()), wire_headers),
        orjson.dumps(body) if body is not ABSENT else b"",
    )
    try:
        phase2_request_check(docs[1], spec).check(call)
        ours: list[str] = []
    except GatewayError as exc:
        ours = [exc.message]
    assert bool(ours) == bool(reference), f"ours={ours} openapi-core={reference}"


PROBLEM = {"type": "t", "title": "T", "status": 404}
# contract, operation, status, headers, content type, body
RESPONSES: list[tuple[int, str, int, Mapping[str, str], str, Any]] = [
    (1, "getRun", 200, {}, "application/json", RUN),
    (
        1,
        "getRun",
        200,
        {"ETag": "x"},
        "application/json",
        {**RUN, "endTime": "2024-01-01T01:00:00Z", "result": {"exitCode": 1}},
    ),
    (1, "getRun", 200, {}, "application/json", {**RUN, "id": "run-x"}),
    (1, "getRun", 200, {}, "application/json", {**RUN, "extra": 1}),
    (1, "getRun", 200, {}, "application/json", {k: v for k, v in RUN.items() if k != "etag"}),
    (1, "getRun", 200, {}, "application/json", {**RUN, "createTime": "yesterday"}),
    (1, "getRun", 200, {}, "application/json", {**RUN, "state": "QUEUED"}),
    (1, "getRun", 200, {}, "application/json", {**RUN, "priority": 101}),
    (1, "getRun", 200, {}, "application/json", {**RUN, "labels": {"owner": 5}}),
    (1, "getRun", 404, {}, "application/problem+json", PROBLEM),
    (1, "getRun", 418, {}, "application/problem+json", {**PROBLEM, "status": 418}),
    (1, "getRun", 404, {}, "application/problem+json", {"title": "T"}),
    (1, "getRun", 404, {}, "application/json", PROBLEM),
    (1, "getRun", 429, {"Retry-After": "3"}, "application/problem+json", PROBLEM),
    (1, "getRun", 429, {}, "application/problem+json", PROBLEM),
    (1, "getRun", 429, {"Retry-After": "soon"}, "application/problem+json", PROBLEM),
    (1, "createRun", 202, {"Location": "/v2/runs/run-1"}, "application/json", RUN),
    (1, "createRun", 202, {}, "application/json", RUN),
    (1, "createRun", 202, {"Location": "/elsewhere"}, "application/json", RUN),
    (1, "listRuns", 200, {}, "application/json", {"runs": [RUN], "totalSize": 1}),
    (1, "listRuns", 200, {}, "application/json", {"runs": [RUN]}),
    (1, "listRuns", 200, {}, "application/json", {"runs": [{**RUN, "id": 1}], "totalSize": 1}),
    (
        1,
        "listRunLogs",
        200,
        {},
        "application/json",
        {"entries": [{"timestamp": "2024-01-01T00:00:00Z", "stream": "stdout", "message": "m"}]},
    ),
    (
        1,
        "listRunLogs",
        200,
        {},
        "application/json",
        {"entries": [{"timestamp": "2024-01-01T00:00:00Z", "stream": "stdin", "message": "m"}]},
    ),
    (1, "getHealth", 200, {}, "application/json", {"status": "SERVING", "checks": {"a": "ok"}}),
    (1, "getHealth", 503, {}, "application/json", {"status": "NOT_SERVING"}),
    (1, "getHealth", 200, {}, "application/json", {"status": "SERVING", "checks": {"a": "meh"}}),
    (1, "getHealth", 500, {}, "application/problem+json", PROBLEM),
    (0, "getJob", 200, {"X-Request-ID": "r"}, "application/json", JOB),
    (0, "getJob", 200, {"X-Request-ID": "r"}, "application/json", {**JOB, "job_id": 0}),
    (0, "getJob", 200, {"X-Request-ID": "r"}, "application/json", {**JOB, "started": "x"}),
    (0, "getJob", 200, {}, "application/json", JOB),
    (
        0,
        "getJob",
        409,
        {"X-Request-ID": "r"},
        "application/json",
        {"error": "e", "code": 409, "request_id": "r"},
    ),
    (
        0,
        "listJobs",
        200,
        {"X-Request-ID": "r"},
        "application/json",
        {"jobs": [JOB], "page": 1, "per_page": 20, "total": 1},
    ),
    (
        0,
        "listJobs",
        200,
        {"X-Request-ID": "r"},
        "application/json",
        {"jobs": [JOB], "page": 1, "per_page": 200, "total": 1},
    ),
    (0, "getJobLogs", 200, {"X-Request-ID": "r"}, "text/plain", "1 stdout x\n"),
    (0, "getStatus", 503, {}, "application/json", {"status": "degraded"}),
    (0, "getStatus", 200, {"X-Request-ID": "r"}, "application/json", {"status": "fine"}),
]


@pytest.mark.parametrize(("which", "op", "status", "headers", "ctype", "body"), RESPONSES)
def test_responses_agree(
    docs: tuple[Contract, Contract],
    oracles: tuple[Oracle, Oracle],
    which: int,
    op: str,
    status: int,
    headers: Mapping[str, str],
    ctype: str,
    body: Any,
) -> None:
    spec = docs[which].operations[op]
    raw = body.encode() if isinstance(body, str) else orjson.dumps(body)
    wire = {**headers, "Content-Type": ctype}
    url = spec.path.replace("{runId}", "run-1").replace("{job_id}", "1")
    reference = oracles[which].check_response(RequestInfo(spec.method, url), status, wire, raw)
    try:
        response_check(docs[which], spec).check(
            status, {k.lower(): v for k, v in wire.items()}, ctype, raw
        )
        ours: list[str] = []
    except GatewayError as exc:
        ours = [exc.message]
    assert bool(ours) == bool(reference), f"ours={ours} openapi-core={reference}"


def _outcome(fn: Any) -> str | None:
    try:
        fn()
    except GatewayError as exc:
        return exc.message
    return None


@pytest.mark.parametrize(("which", "op", "status", "headers", "ctype", "body"), RESPONSES)
def test_checking_the_encoded_value_agrees_with_reading_the_bytes(
    docs: tuple[Contract, Contract],
    which: int,
    op: str,
    status: int,
    headers: Mapping[str, str],
    ctype: str,
    body: Any,
) -> None:
    """check_encoded (the sent check given the value the body was written from) passes and
    refuses exactly what `check` of the bytes does, in the same words."""
    check = response_check(docs[which], docs[which].operations[op])
    raw = body.encode() if isinstance(body, str) else orjson.dumps(body)
    wire = {k.lower(): v for k, v in headers.items()}
    data = body if not isinstance(body, str) else ABSENT
    expected = _outcome(lambda: check.check(status, wire, ctype, raw))
    assert _outcome(lambda: check.check_encoded(status, wire, ctype, raw, data)) == expected


def test_check_encoded_validates_the_value_not_a_parse_of_the_bytes(
    docs: tuple[Contract, Contract],
) -> None:
    check = response_check(docs[0], docs[0].operations["getJob"])
    wire = {"x-request-id": "r"}
    # The bytes are never read when the value passes: the parse is what it saves.
    check.check_encoded(200, wire, "application/json", b"\xff not json", JOB)
    # A value the validator cannot take is judged on the bytes, like any refusal.
    with pytest.raises(GatewayError, match="not valid JSON"):
        check.check_encoded(200, wire, "application/json", b"\xff", {**JOB, "tags": object()})
