"""The reference orchestrator's operations, auth and contract checking."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shimgw.reference import Run, RunStore, load_contract

AUTH = {"Authorization": "Bearer test-token"}
PATCH = {**AUTH, "Content-Type": "application/merge-patch+json"}


def ids(doc: dict[str, Any]) -> list[str]:
    return [run["id"] for run in doc["runs"]]


async def create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {"displayName": "job", "plugin": {"id": "shell"}, "labels": {"owner": "dana"}}
    body.update(overrides)
    resp = await client.post("/v2/runs", json=body, headers=AUTH)
    assert resp.status == 202, await resp.text()
    doc: dict[str, Any] = await resp.json()
    return doc


# --- health and auth ---------------------------------------------------------------


async def test_health_needs_no_token(stable: TestClient, store: RunStore) -> None:
    resp = await stable.get("/v2/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "SERVING", "checks": {"store": "ok"}}
    assert store.violations == []


async def test_health_503_per_instance(
    stable: TestClient, canary: TestClient, store: RunStore
) -> None:
    store.instance_health["canary"] = type(store.health)("NOT_SERVING", {"store": "failing"})
    bad = await canary.get("/v2/health")
    assert bad.status == 503
    assert (await bad.json())["status"] == "NOT_SERVING"
    assert (await stable.get("/v2/health")).status == 200
    assert store.violations == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dTpw"},
        {"Authorization": "Bearer"},
    ],
)
async def test_missing_bearer_is_401_not_violation(
    stable: TestClient, store: RunStore, headers: dict[str, str]
) -> None:
    resp = await stable.get("/v2/runs/run-1", headers=headers)
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert (await resp.json())["status"] == 401
    assert store.violations == []


# --- runs ----------------------------------------------------------------------------


async def test_create_then_read_through_other_instance(
    stable: TestClient, canary: TestClient, store: RunStore
) -> None:
    resp = await stable.post(
        "/v2/runs",
        json={"displayName": "etl", "plugin": {"id": "spark"}, "labels": {"owner": "dana"}},
        headers=AUTH,
    )
    assert resp.status == 202
    run = await resp.json()
    assert run["id"] == "run-7"
    assert resp.headers["Location"] == "/v2/runs/run-7"
    assert run["state"] == "PENDING"
    assert run["priority"] == 50
    # 3.4.0 is installed too but disabled.
    assert run["plugin"] == {"id": "spark", "version": "3.5.1"}
    assert run["tags"] == []
    assert run["parameters"] == {}
    assert run["createTime"].endswith("Z")
    assert run["createTime"] == run["updateTime"]
    assert run["etag"]

    got = await canary.get("/v2/runs/run-7", headers=AUTH)
    assert got.status == 200
    assert await got.json() == run
    assert got.headers["ETag"] == f'"{run["etag"]}"'
    assert store.violations == []


async def test_create_keeps_optional_fields(stable: TestClient) -> None:
    run = await create(
        stable,
        priority=7,
        tags=["a", "b"],
        parameters={"n": 3, "x": 0.5, "flag": True, "s": "v"},
        notification={"webhook": {"url": "https://hooks.example.com/x"}},
        labels={"owner": "dana", "team": "t"},
    )
    assert run["priority"] == 7
    assert run["tags"] == ["a", "b"]
    assert run["parameters"] == {"n": 3, "x": 0.5, "flag": True, "s": "v"}
    assert run["notification"] == {"webhook": {"url": "https://hooks.example.com/x"}}
    assert run["labels"] == {"owner": "dana", "team": "t"}


@pytest.mark.parametrize(
    "plugin", [{"id": "nope"}, {"id": "ray"}, {"id": "spark", "version": "3.4.0"}]
)
async def test_create_with_unavailable_plugin_is_422(
    stable: TestClient, store: RunStore, plugin: dict[str, str]
) -> None:
    body = {"displayName": "x", "plugin": plugin, "labels": {"owner": "o"}}
    resp = await stable.post("/v2/runs", json=body, headers=AUTH)
    assert resp.status == 422
    assert plugin["id"] in (await resp.json())["detail"]
    assert len(store.runs) == 6
    assert store.violations == []


async def test_idempotency_key_replays_the_same_run(stable: TestClient, store: RunStore) -> None:
    body = {"displayName": "x", "plugin": {"id": "shell"}, "labels": {"owner": "o"}}
    headers = {**AUTH, "Idempotency-Key": "k1"}
    first = await (await stable.post("/v2/runs", json=body, headers=headers)).json()
    again = await stable.post("/v2/runs", json=body, headers=headers)
    assert again.status == 202
    assert (await again.json())["id"] == first["id"]
    assert len(store.runs) == 7


async def test_get_missing_run_is_404_problem(stable: TestClient, store: RunStore) -> None:
    resp = await stable.get("/v2/runs/run-999", headers=AUTH)
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"
    assert "run-999" in (await resp.json())["detail"]
    assert store.violations == []


async def test_list_runs_newest_first(stable: TestClient) -> None:
    doc = await (await stable.get("/v2/runs", headers=AUTH)).json()
    assert ids(doc) == ["run-6", "run-5", "run-4", "run-3", "run-2", "run-1"]
    assert doc["totalSize"] == 6
    assert "nextPageToken" not in doc


async def test_list_runs_filters(stable: TestClient) -> None:
    query = [("state", "RUNNING"), ("state", "SUCCEEDED"), ("state", "PENDING")]
    doc = await (await stable.get("/v2/runs", params=query, headers=AUTH)).json()
    assert ids(doc) == ["run-5", "run-3", "run-1"]
    assert doc["totalSize"] == 3

    query = [("label", "owner=alice"), ("label", "env=prod")]
    doc = await (await stable.get("/v2/runs", params=query, headers=AUTH)).json()
    assert ids(doc) == ["run-3"]

    query = [("label", "owner=alice"), ("state", "SUCCEEDED")]
    doc = await (await stable.get("/v2/runs", params=query, headers=AUTH)).json()
    assert ids(doc) == ["run-1"]


async def test_label_filter_key_ends_at_first_equals(stable: TestClient) -> None:
    await create(stable, labels={"owner": "o", "expr": "a=b"})
    doc = await (await stable.get("/v2/runs", params={"label": "expr=a=b"}, headers=AUTH)).json()
    assert ids(doc) == ["run-7"]
    doc = await (await stable.get("/v2/runs", params={"label": "expr=a"}, headers=AUTH)).json()
    assert doc == {"runs": [], "totalSize": 0}


async def test_list_runs_paging(stable: TestClient, store: RunStore) -> None:
    params = {"pageSize": "2", "skip": "2"}
    doc = await (await stable.get("/v2/runs", params=params, headers=AUTH)).json()
    assert ids(doc) == ["run-4", "run-3"]
    assert doc["totalSize"] == 6
    token = doc["nextPageToken"]
    params = {"pageSize": "2", "pageToken": token}
    doc = await (await stable.get("/v2/runs", params=params, headers=AUTH)).json()
    assert ids(doc) == ["run-2", "run-1"]
    assert "nextPageToken" not in doc

    doc = await (await stable.get("/v2/runs", params={"skip": "10"}, headers=AUTH)).json()
    assert doc == {"runs": [], "totalSize": 6}

    bad = await stable.get("/v2/runs", params={"pageToken": "forged"}, headers=AUTH)
    assert bad.status == 400
    assert store.violations == []


async def test_update_run_merge_patch(stable: TestClient, store: RunStore) -> None:
    before = await (await stable.get("/v2/runs/run-3", headers=AUTH)).json()
    patch = {"priority": 99, "labels": {"env": "staging", "extra": "1"}, "tags": ["x"]}
    resp = await stable.patch("/v2/runs/run-3", json=patch, headers=PATCH)
    assert resp.status == 200
    after = await resp.json()
    assert after["priority"] == 99
    assert after["labels"] == {"owner": "alice", "env": "staging", "extra": "1"}
    assert after["tags"] == ["x"]
    assert after["etag"] != before["etag"]
    assert after["updateTime"] != before["updateTime"]
    assert store.violations == []


async def test_update_run_if_match(stable: TestClient) -> None:
    etag = (await stable.get("/v2/runs/run-5", headers=AUTH)).headers["ETag"]
    stale = await stable.patch(
        "/v2/runs/run-5", json={"priority": 1}, headers={**PATCH, "If-Match": '"run-5.0"'}
    )
    assert stale.status == 412
    ok = await stable.patch(
        "/v2/runs/run-5", json={"priority": 1}, headers={**PATCH, "If-Match": etag}
    )
    assert ok.status == 200


async def test_update_finished_run_is_409(stable: TestClient) -> None:
    resp = await stable.patch("/v2/runs/run-1", json={"priority": 1}, headers=PATCH)
    assert resp.status == 409
    assert resp.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("run_id", "status", "state"),
    [
        ("run-5", 200, "CANCELLED"),
        ("run-4", 200, "CANCELLED"),
        ("run-3", 200, "CANCELLING"),
        ("run-1", 409, "SUCCEEDED"),
        ("run-2", 409, "FAILED"),
        ("run-6", 409, "CANCELLED"),
    ],
)
async def test_cancel_rules(
    stable: TestClient, store: RunStore, run_id: str, status: int, state: str
) -> None:
    resp = await stable.post(f"/v2/runs/{run_id}:cancel", headers=AUTH)
    assert resp.status == status
    run = store.runs[int(run_id[4:])]
    assert run.state == state
    if state == "CANCELLED" and status == 200:
        assert (await resp.json())["endTime"] == run.end_time
    assert store.violations == []


async def test_cancel_twice_while_cancelling(stable: TestClient) -> None:
    await stable.post("/v2/runs/run-3:cancel", headers=AUTH)
    again = await stable.post("/v2/runs/run-3:cancel", headers=AUTH)
    assert again.status == 200
    assert (await again.json())["state"] == "CANCELLING"


async def test_cancel_missing_run_is_404(stable: TestClient) -> None:
    assert (await stable.post("/v2/runs/run-77:cancel", headers=AUTH)).status == 404


@pytest.mark.parametrize(
    ("run_id", "status"),
    [
        ("run-1", 204),
        ("run-2", 204),
        ("run-6", 204),
        ("run-3", 409),
        ("run-4", 409),
        ("run-5", 409),
    ],
)
async def test_delete_rules(stable: TestClient, store: RunStore, run_id: str, status: int) -> None:
    resp = await stable.delete(f"/v2/runs/{run_id}", headers=AUTH)
    assert resp.status == status
    assert (int(run_id[4:]) in store.runs) == (status == 409)
    if status == 204:
        assert await resp.read() == b""
        assert (await stable.get(f"/v2/runs/{run_id}", headers=AUTH)).status == 404
    assert store.violations == []


async def test_logs_oldest_first_and_limit(stable: TestClient) -> None:
    doc = await (await stable.get("/v2/runs/run-2/logs", headers=AUTH)).json()
    messages = [e["message"] for e in doc["entries"]]
    assert messages == ["reading C:\\data\\in.csv", "error: missing input\r\nabort"]
    doc = await (await stable.get("/v2/runs/run-1/logs?limit=2", headers=AUTH)).json()
    assert [e["message"] for e in doc["entries"]] == ["slow shard 7, retrying", "done"]
    doc = await (await stable.get("/v2/runs/run-5/logs", headers=AUTH)).json()
    assert doc == {"entries": []}
    assert (await stable.get("/v2/runs/run-99/logs", headers=AUTH)).status == 404


async def test_list_plugins(stable: TestClient) -> None:
    doc = await (await stable.get("/v2/plugins", headers=AUTH)).json()
    pairs = [(p["id"], p["version"], p["enabled"]) for p in doc["plugins"]]
    assert ("spark", "3.5.1", True) in pairs
    assert ("spark", "3.4.0", False) in pairs
    assert ("ray", "2.9.0", False) in pairs
    assert len(pairs) == 5


async def test_correlation_id_is_echoed(stable: TestClient, store: RunStore) -> None:
    resp = await stable.get("/v2/runs/run-1", headers={**AUTH, "X-Correlation-ID": "abc.1:2-3"})
    assert resp.headers["X-Correlation-ID"] == "abc.1:2-3"
    missing = await stable.get("/v2/runs/run-1", headers=AUTH)
    assert "X-Correlation-ID" not in missing.headers
    seen = store.seen[0]
    assert seen.instance == "stable"
    assert seen.operation == "getRun"
    assert seen.header("x-correlation-id") == "abc.1:2-3"
    assert seen.headers["Authorization"] == "Bearer test-token"


# --- the contract as oracle -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "needle"),
    [
        ("GET", "/v2/runs/run-1234567890123456789", {}, "runId"),
        ("GET", "/v2/runs/run-1:cancel", {}, "runId"),
        ("GET", "/v2/runs?pageSize=0", {}, "pageSize"),
        ("GET", "/v2/runs?state=QUEUED", {}, "state"),
        ("GET", "/v2/runs?per_page=5", {}, "per_page"),
        ("GET", "/v2/runs?skip=1&skip=2", {}, "skip"),
        ("GET", "/v2/runs/run-1/logs?limit=0", {}, "limit"),
        (
            "POST",
            "/v2/runs",
            {"json": {"plugin": {"id": "shell"}, "labels": {"owner": "o"}}},
            "displayName",
        ),
        (
            "POST",
            "/v2/runs",
            {"json": {"displayName": "x", "plugin": {"id": "shell"}, "labels": {}}},
            "owner",
        ),
        (
            "POST",
            "/v2/runs",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            "deserialize",
        ),
        ("PATCH", "/v2/runs/run-3", {"json": {"priority": 1}}, "application/json"),
        (
            "PATCH",
            "/v2/runs/run-3",
            {"data": b"{}", "headers": {"Content-Type": "application/merge-patch+json"}},
            "non-empty",
        ),
    ],
)
async def test_contract_violating_request_is_400_and_recorded(
    stable: TestClient, store: RunStore, method: str, url: str, kwargs: dict[str, Any], needle: str
) -> None:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    resp = await stable.request(method, url, headers=headers, **kwargs)
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    detail = (await resp.json())["detail"]
    assert needle in detail
    assert len(store.violations) == 1
    violation = store.violations[0]
    assert violation.direction == "request"
    assert violation.instance == "stable"
    assert violation.message in detail
    # Nothing was changed by the rejected request.
    assert len(store.runs) == 6
    assert store.runs[3].revision == 1


async def test_unknown_operation_is_404_and_recorded(stable: TestClient, store: RunStore) -> None:
    for method, url in [("PUT", "/v2/runs"), ("GET", "/v2/jobs"), ("HEAD", "/v2/health")]:
        resp = await stable.request(method, url, headers=AUTH)
        assert resp.status == 404
    assert [(v.method, v.operation) for v in store.violations] == [
        ("PUT", None),
        ("GET", None),
        ("HEAD", None),
    ]


async def test_response_violations_are_recorded(stable: TestClient, store: RunStore) -> None:
    store.add_run(
        Run(
            id=50,
            display_name="odd",
            plugin_id="x",
            plugin_version="1",
            state="PENDING",
            create_time="yesterday",
            update_time="2024-01-01T00:00:00+02:00",
            labels={"Bad Key": "v"},
        )
    )
    resp = await stable.get("/v2/runs/run-50", headers=AUTH)
    # Still sent as built: the app is an oracle, not a filter.
    assert resp.status == 200
    assert (await resp.json())["createTime"] == "yesterday"
    [violation] = store.violations
    assert violation.direction == "response"
    assert violation.operation == "getRun"
    assert "date-time" in violation.message
    assert "Bad Key" in violation.message


async def test_tour_of_every_operation_is_clean(
    stable: TestClient, canary: TestClient, store: RunStore
) -> None:
    new = await create(stable, tags=["t"], parameters={"k": "v"})
    calls = [
        stable.get(
            "/v2/runs",
            params=[
                ("state", "PENDING"),
                ("label", "owner=dana"),
                ("pageSize", "1"),
                ("skip", "0"),
            ],
            headers=AUTH,
        ),
        canary.get(f"/v2/runs/{new['id']}", headers={**AUTH, "X-Correlation-ID": "c1"}),
        stable.patch(f"/v2/runs/{new['id']}", json={"labels": {"k": "v"}}, headers=PATCH),
        canary.post(f"/v2/runs/{new['id']}:cancel", headers=AUTH),
        stable.get(f"/v2/runs/{new['id']}/logs", params={"limit": "5"}, headers=AUTH),
        stable.delete(f"/v2/runs/{new['id']}", headers=AUTH),
        stable.get("/v2/plugins", headers=AUTH),
        canary.get("/v2/health"),
    ]
    statuses = [(await call).status for call in calls]
    assert statuses == [200, 200, 200, 200, 200, 204, 200, 200]
    assert store.violations == []
    # Every operation of the contract was routed to its handler.
    assert {s.operation for s in store.seen} == set(load_contract().operations)
