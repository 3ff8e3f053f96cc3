"""The Phase 1 route table: matches, 404s and 405s."""

from __future__ import annotations

import pytest

from shimgw import resources
from shimgw.contracts.document import load_contract
from shimgw.errors import MethodNotAllowed, RouteNotFound
from shimgw.routing.routes import RouteTable, build_routes


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return build_routes(load_contract(resources.phase1_contract(), "phase1"))


@pytest.mark.parametrize(
    ("method", "path", "op", "params"),
    [
        ("POST", "/api/v1/jobs", "createJob", {}),
        ("GET", "/api/v1/jobs", "listJobs", {}),
        ("GET", "/api/v1/jobs/7", "getJob", {"job_id": "7"}),
        ("DELETE", "/api/v1/jobs/7", "deleteJob", {"job_id": "7"}),
        ("POST", "/api/v1/jobs/7/cancel", "cancelJob", {"job_id": "7"}),
        ("PUT", "/api/v1/jobs/x/priority", "setJobPriority", {"job_id": "x"}),
        ("GET", "/api/v1/jobs/7/logs", "getJobLogs", {"job_id": "7"}),
        ("GET", "/api/v1/jobs/7/stats", "getJobStats", {"job_id": "7"}),
        ("GET", "/api/v1/engines", "listEngines", {}),
        ("GET", "/api/v1/status", "getStatus", {}),
    ],
)
def test_match(table: RouteTable, method: str, path: str, op: str, params: dict[str, str]) -> None:
    assert table.match(method, path) == (op, params)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/v1",
        "/api/v1/jobs/",
        "/api/v1/jobs/1/2",
        "/api/v1/jobs/1/cancel/x",
        "/v2/runs",
        "/API/V1/JOBS",
    ],
)
def test_not_found(table: RouteTable, path: str) -> None:
    with pytest.raises(RouteNotFound):
        table.match("GET", path)


def test_method_not_allowed_lists_allow(table: RouteTable) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        table.match("PATCH", "/api/v1/jobs/1")
    assert caught.value.headers == {"Allow": "DELETE, GET"}
    with pytest.raises(MethodNotAllowed):
        table.match("HEAD", "/api/v1/status")


def test_odd_paths_are_printable(table: RouteTable) -> None:
    with pytest.raises(RouteNotFound) as caught:
        table.match("GET", "/x\n" + "y" * 500)
    assert "\n" not in caught.value.message and len(caught.value.message) < 300


def test_templates_are_grouped_by_slash_count(table: RouteTable) -> None:
    """A parameter holds no '/': /api/v1/jobs/7 is tried against /api/v1/jobs/{job_id} alone."""
    assert [route.template for _, route in table.templated[4]] == ["/api/v1/jobs/{job_id}"]
    assert {route.template for _, route in table.templated[5]} == {
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/jobs/{job_id}/priority",
        "/api/v1/jobs/{job_id}/logs",
        "/api/v1/jobs/{job_id}/stats",
    }
    assert set(table.templated) == {4, 5}


@pytest.mark.parametrize(
    ("decoded", "raw"),
    [
        ("/api/v1/jobs/4/cancel", "/api/v1/jobs/4%2Fcancel"),
        ("/api/v1/jobs/4/cancel", "/api/v1/jobs/4%2fcancel?x=1"),
        ("/api/v1/jobs/1/2", "/api/v1/jobs/1%2F2"),
    ],
)
def test_an_encoded_slash_is_no_resource(table: RouteTable, decoded: str, raw: str) -> None:
    with pytest.raises(RouteNotFound) as caught:
        table.match("POST", decoded, raw=raw)
    assert raw.partition("?")[0] in str(caught.value)


def test_other_encodings_and_an_encoded_slash_in_the_query_still_match(table: RouteTable) -> None:
    assert table.match("GET", "/api/v1/jobs/1", raw="/api/v1/jobs/%31") == (
        "getJob",
        {"job_id": "1"},
    )
    assert table.match("GET", "/api/v1/jobs", raw="/api/v1/jobs?owner=a%2Fb")[0] == "listJobs"
    assert table.match("GET", "/api/v1/jobs/%2F", raw="/api/v1/jobs/%252F")[0] == "getJob"
