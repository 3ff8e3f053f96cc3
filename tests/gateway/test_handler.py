"""Every outcome of the Phase 1 handler, driven without sockets.

One table: the request, what the (fake) orchestrator does, and what must come of
it — the Phase 1 status, the upstream's rollback window, the error metric and the
log line. The answer itself is checked by openapi-core against phase1.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from handler_support import Harness, Lines, Reply, demo_run, v2_json

from shimgw.errors import TranslatedError, UpstreamBusy, UpstreamTimeout, UpstreamUnavailable
from shimgw.reference.contract import Contract, RequestInfo


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    reply: Reply | None  # None: the orchestrator must not be called
    status: int
    method: str = "GET"
    body: bytes | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    recorded: tuple[int, int] | None = None  # rollback window: (answers, failures)
    upstream_error: str | None = None  # kind counted in shimgw_upstream_errors_total
    violations: int = 0
    log: str | tuple[str, ...] | None = None  # the warning or error lines this outcome writes
    operation: str = "getJob"
    message: str | None = None  # part of the Phase 1 error message
    phase1_valid: bool = True  # False: report/off let a broken answer through, translated


BROKEN_RUN = v2_json(200, {"id": "run-1"})  # breaks phase2.yaml: most fields missing
PROBLEM_500 = v2_json(500, {"type": "about:blank", "title": "boom", "status": 500})

CASES = [
    Case("answer", "/api/v1/jobs/1", demo_run(), 200, recorded=(1, 0)),
    Case(
        "local answer",
        "/api/v1/jobs/1/stats",
        None,
        410,
        operation="getJobStats",
        message="withdrawn",
    ),
    Case("no such route", "/api/v2/nothing", None, 404, operation="-"),
    Case("method not allowed", "/api/v1/status", None, 405, method="PATCH", operation="-"),
    Case(
        "bad request",
        "/api/v1/jobs?per_page=0",
        None,
        400,
        operation="listJobs",
        message="per_page",
    ),
    Case(
        "bad body",
        "/api/v1/jobs",
        None,
        400,
        method="POST",
        body=b"{not json",
        operation="createJob",
    ),
    Case(
        "unreachable",
        "/api/v1/jobs/1",
        UpstreamUnavailable("orchestrator (stable) unreachable: ConnectionRefusedError"),
        502,
        recorded=(1, 1),
        upstream_error="unreachable",
        log="upstream failure",
    ),
    Case(
        "timeout",
        "/api/v1/jobs/1",
        UpstreamTimeout("orchestrator (stable) did not answer in time"),
        504,
        recorded=(1, 1),
        upstream_error="timeout",
        log="upstream failure",
    ),
    Case(
        "busy",
        "/api/v1/jobs/1",
        UpstreamBusy("stable is busy", headers={"Retry-After": "1"}),
        503,
        upstream_error="busy",
        log="upstream failure",
    ),
    Case(
        "5xx answer",
        "/api/v1/jobs/1",
        PROBLEM_500,
        502,
        recorded=(1, 1),
        upstream_error="5xx",
        log="upstream failure",
    ),
    Case(
        "contract violation (enforce)",
        "/api/v1/jobs/1",
        BROKEN_RUN,
        502,
        recorded=(1, 1),
        upstream_error="contract",
        violations=1,
        log="upstream failure",
    ),
    Case(
        "contract violation (report)",
        "/api/v1/jobs/1",
        BROKEN_RUN,
        200,  # reported, then translated as far as it goes
        sections={"validation": {"responses": "report"}},
        recorded=(1, 1),
        upstream_error="contract",
        violations=1,
        # The translated answer breaks phase1.yaml too: the on-the-wire check says so first.
        log=("phase1 contract violation (sent)", "contract violation (report mode)"),
        phase1_valid=False,
    ),
    Case(
        "broken answer (off)",
        "/api/v1/jobs/1",
        BROKEN_RUN,
        200,
        sections={"validation": {"responses": "off"}},
        recorded=(1, 0),  # not checked, so not held against the upstream
        phase1_valid=False,
    ),
    Case(
        "answer (report)",
        "/api/v1/jobs/1",
        demo_run(),
        200,
        sections={"validation": {"responses": "report"}},
        recorded=(1, 0),
    ),
    Case(
        "answer (off)",
        "/api/v1/jobs/1",
        demo_run(),
        200,
        sections={"validation": {"responses": "off"}},
        recorded=(1, 0),
    ),
    Case(
        "unpromised status",
        "/api/v1/jobs/1",
        TranslatedError(409, "conflict nobody promised"),
        502,  # getJob does not list 409: a Phase 1 client never sees it
        log="upstream failure",
        message="conflict nobody promised",
    ),
    Case(
        "crash",
        "/api/v1/jobs/1",
        RuntimeError("a bug"),
        502,
        log="internal error",
        message="internal gateway error",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_outcome(
    case: Case, lines: Lines, phase1_oracle: Contract, make_harness: Callable[..., Harness]
) -> None:
    h = make_harness(**case.sections)
    h.upstream.reply = case.reply
    response = await h.call(
        case.method, case.path, body=case.body, headers={"X-Request-ID": "rid-1"}
    )
    body = response.body
    assert isinstance(body, bytes)

    assert response.status == case.status, body
    assert response.headers["X-Request-ID"] == "rid-1"
    if case.status >= 400:
        error = orjson.loads(body)
        assert (error["code"], error["request_id"]) == (case.status, "rid-1")
        assert case.message is None or case.message in error["error"]
    if case.operation != "-":  # outside every operation phase1.yaml has nothing to say
        problems = phase1_oracle.check_response(
            RequestInfo(case.method, case.path.split("?")[0]),
            response.status,
            list(response.headers.items()),
            body,
        )
        assert (problems == []) == case.phase1_valid, problems
    assert len(h.upstream.calls) == (0 if case.reply is None else 1)

    window = h.runtime.rollback.windows["stable"]
    assert (window.total, window.errors) == (case.recorded or (0, 0))
    kinds = ("unreachable", "timeout", "busy", "5xx", "contract")
    counted = {
        k for k in kinds if h.metric("shimgw_upstream_errors_total", upstream="stable", kind=k)
    }
    assert counted == ({case.upstream_error} if case.upstream_error else set())
    received = {"contract": "phase2", "operation": "getJob", "direction": "received"}
    assert h.metric("shimgw_contract_violations_total", **received) == case.violations
    upstream = "-" if case.reply is None else "stable"
    assert (
        h.metric(
            "shimgw_requests_total",
            operation=case.operation,
            status=str(case.status),
            upstream=upstream,
        )
        == 1
    )

    expected = [case.log] if isinstance(case.log, str) else list(case.log or ())
    assert lines.messages() == expected
    (access,) = h.access_lines()
    assert access["status"] == case.status and access["operation"] == case.operation
    assert access["request_id"] == "rid-1" and access["upstream"] == upstream
