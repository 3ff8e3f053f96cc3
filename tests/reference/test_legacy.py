"""The reference legacy backend: every answer checked against phase1.yaml by openapi-core."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from gwsupport import REPO
from pytest_aiohttp import AiohttpClient

from shimgw.reference import Fault
from shimgw.reference.contract import Contract, RequestInfo
from shimgw.reference.contract import load_contract as load_oracle
from shimgw.reference.legacy import build_legacy_app, start_legacy
from shimgw.reference.legacy_store import LegacyStore, seed_legacy

KEY = {"X-Api-Key": "k"}


@pytest.fixture(scope="module")
def oracle() -> Contract:
    return load_oracle(REPO / "openapi" / "phase1.yaml")


@pytest.fixture
def legacy_store() -> LegacyStore:
    return seed_legacy(LegacyStore())


@pytest.fixture
async def legacy(aiohttp_client: AiohttpClient, legacy_store: LegacyStore) -> TestClient:
    return await aiohttp_client(build_legacy_app(legacy_store))


async def call(
    client: TestClient,
    oracle: Contract,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
) -> tuple[int, Any, dict[str, str]]:
    """One call; its answer must conform to phase1.yaml."""
    sent = KEY if headers is None else headers
    async with client.request(method, path, headers=sent, json=json) as resp:
        body = await resp.read()
        problems = oracle.check_response(
            RequestInfo(method, path.split("?")[0]), resp.status, list(resp.headers.items()), body
        )
        if resp.content_type == "text/plain" and not body:
            problems = [p for p in problems if p != "Missing response data"]
        assert not problems, problems
        doc = await resp.json() if resp.content_type == "application/json" else body.decode()
        return resp.status, doc, dict(resp.headers)


async def test_every_operation_answers_per_phase1(
    legacy: TestClient, legacy_store: LegacyStore, oracle: Contract
) -> None:
    status, job, _ = await call(legacy, oracle, "GET", "/api/v1/jobs/1")
    assert (status, job["name"], job["status"], job["priority"]) == (
        200,
        "nightly-etl",
        "SUCCEEDED",
        "high",
    )
    assert job["created"] == 1709283600 and job["finished"] == 1709284361
    status, page, _ = await call(legacy, oracle, "GET", "/api/v1/jobs?status=QUEUED&per_page=1")
    assert status == 200 and page["total"] == 2 and [j["job_id"] for j in page["jobs"]] == [5]
    status, page, _ = await call(legacy, oracle, "GET", "/api/v1/jobs?owner=alice")
    assert [j["job_id"] for j in page["jobs"]] == [3, 1]
    created = {"name": "n", "engine": "flink", "owner": "o", "tags": ["a"]}
    status, job, _ = await call(legacy, oracle, "POST", "/api/v1/jobs", json=created)
    assert (status, job["job_id"], job["status"], job["priority"]) == (201, 7, "QUEUED", "normal")
    status, job, _ = await call(
        legacy, oracle, "PUT", "/api/v1/jobs/7/priority", json={"priority": "low"}
    )
    assert (status, job["priority"]) == (200, "low")
    status, job, _ = await call(legacy, oracle, "POST", "/api/v1/jobs/7/cancel")
    assert (status, job["status"]) == (200, "CANCELLED") and job["finished"] is not None
    status, _, _ = await call(legacy, oracle, "POST", "/api/v1/jobs/7/cancel")
    assert status == 409
    status, _, _ = await call(legacy, oracle, "DELETE", "/api/v1/jobs/7")
    assert status == 204 and 7 not in legacy_store.jobs
    status, _, _ = await call(legacy, oracle, "DELETE", "/api/v1/jobs/3")
    assert status == 409
    status, text, _ = await call(legacy, oracle, "GET", "/api/v1/jobs/3/logs?tail=1")
    assert text == '1709374560 stdout path "a\\\\b"\\rprogress 50%\\nline two\n'
    status, text, _ = await call(legacy, oracle, "GET", "/api/v1/jobs/4/logs")
    assert (status, text) == (200, "")
    status, engines, _ = await call(legacy, oracle, "GET", "/api/v1/engines")
    assert engines == {"engines": ["flink", "shell", "spark"]}
    status, doc, _ = await call(legacy, oracle, "GET", "/api/v1/status", headers={})
    assert (status, doc) == (200, {"status": "ok"})
    status, _, headers = await call(legacy, oracle, "GET", "/api/v1/jobs/1/stats")
    assert status == 410 and headers["Sunset"] == "Fri, 01 Jan 2027 00:00:00 GMT"
    assert legacy_store.violations == []


async def test_errors_have_the_phase1_body_and_echo_the_request_id(
    legacy: TestClient, legacy_store: LegacyStore, oracle: Contract
) -> None:
    status, doc, headers = await call(
        legacy, oracle, "GET", "/api/v1/jobs/99", headers={**KEY, "X-Request-ID": "abc.1"}
    )
    assert (status, doc["code"], doc["request_id"], headers["X-Request-ID"]) == (
        404,
        404,
        "abc.1",
        "abc.1",
    )
    status, doc, headers = await call(legacy, oracle, "GET", "/api/v1/jobs/1", headers={})
    assert status == 401 and doc["request_id"] == headers["X-Request-ID"]
    status, doc, _ = await call(legacy, oracle, "GET", "/api/v1/jobs?per_page=0")
    assert status == 400 and "per_page" in doc["error"]
    status, doc, _ = await call(
        legacy, oracle, "POST", "/api/v1/jobs", json={"name": "n", "engine": "ray", "owner": "o"}
    )
    assert status == 400 and "ray" in doc["error"]
    assert legacy_store.violations == []


async def test_records_requests_as_received(legacy: TestClient, legacy_store: LegacyStore) -> None:
    async with legacy.get(
        "/api/v1/jobs?owner=a%20b&page=1", headers={**KEY, "traceparent": "00-x"}
    ) as resp:
        assert resp.status == 200
    seen = legacy_store.seen[-1]
    assert (seen.operation, seen.query_string, seen.header("traceparent")) == (
        "listJobs",
        "owner=a%20b&page=1",
        "00-x",
    )


async def test_missing_owner_knob_is_the_only_difference(
    aiohttp_client: AiohttpClient, legacy_store: LegacyStore, oracle: Contract
) -> None:
    plain = await aiohttp_client(build_legacy_app(seed_legacy(LegacyStore())))
    drifted = await aiohttp_client(build_legacy_app(legacy_store, missing_owner="unknown"))
    for job_id in range(1, 7):
        _, a, _ = await call(plain, oracle, "GET", f"/api/v1/jobs/{job_id}")
        _, b, _ = await call(drifted, oracle, "GET", f"/api/v1/jobs/{job_id}")
        differing = {k for k in a if a[k] != b[k]}
        assert differing == ({"owner"} if job_id == 4 else set())
    _, four, _ = await call(drifted, oracle, "GET", "/api/v1/jobs/4")
    assert four["owner"] == "unknown"


async def test_injected_faults(
    legacy: TestClient, legacy_store: LegacyStore, oracle: Contract
) -> None:
    legacy_store.inject(Fault(operation="getJob", status=503, body=b"{}"))
    async with legacy.get("/api/v1/jobs/1", headers=KEY) as resp:
        assert resp.status == 503
    status, _, _ = await call(legacy, oracle, "GET", "/api/v1/jobs/1")
    assert status == 200
    assert [f.operation for f in legacy_store.fired] == ["getJob"]


async def test_serves_on_a_real_socket() -> None:
    import aiohttp

    running = await start_legacy(seed_legacy(LegacyStore()))
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{running.url}/api/v1/status") as resp,
        ):
            assert resp.status == 200
    finally:
        await running.stop()
