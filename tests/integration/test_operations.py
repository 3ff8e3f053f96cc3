"""Every Phase 1 operation of MAPPING.md, end to end over loopback HTTP."""

from __future__ import annotations

import pytest
from gwsupport import Gateway, GatewayFactory

from shimgw.reference import Fault, Health, LogEntry, Run, RunStore


def last_call(store: RunStore, operation: str):  # type: ignore[no-untyped-def]
    calls = [s for s in store.seen if s.operation == operation]
    assert calls, f"the orchestrator never saw {operation}"
    return calls[-1]


async def test_get_job_maps_every_run_field(gateway: Gateway) -> None:
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 200
    job = answer.json
    run = gateway.store.get_run(1)
    assert run is not None
    assert job["job_id"] == 1
    assert job["name"] == run.display_name
    assert job["engine"] == run.plugin_id
    assert job["owner"] == run.labels["owner"]
    assert job["status"] == "SUCCEEDED"
    assert job["exit_code"] == run.exit_code
    assert isinstance(job["created"], int) and isinstance(job["finished"], int)
    call = last_call(gateway.store, "getRun")
    assert call.path == "/v2/runs/run-1"
    assert call.header("Authorization") == "Bearer k"
    assert call.header("X-Api-Key") is None


async def test_get_job_without_owner_or_times(gateway: Gateway) -> None:
    job = (await gateway.call("GET", "/api/v1/jobs/4")).json  # SCHEDULED, no owner
    assert job["owner"] == ""
    assert job["status"] == "QUEUED"
    assert job["started"] is None and job["finished"] is None and job["exit_code"] is None


async def test_get_job_with_offset_timestamps(gateway: Gateway, store: RunStore) -> None:
    run = store.get_run(5)
    assert run is not None
    run.create_time = "2024-03-01T10:00:00.999+02:00"
    run.update_time = "2024-03-01T07:30:00-01:30"
    job = (await gateway.call("GET", "/api/v1/jobs/5")).json
    assert job["created"] == 1709280000  # 08:00:00Z, fraction dropped
    assert job["updated"] == 1709283600  # 09:00:00Z


async def test_create_job_minimal_sends_defaults_and_omits_absent(gateway: Gateway) -> None:
    answer = await gateway.call(
        "POST", "/api/v1/jobs", json={"name": "n", "engine": "spark", "owner": "ana"}
    )
    assert answer.status == 201
    job = answer.json
    assert job["priority"] == "normal" and job["status"] == "QUEUED" and job["owner"] == "ana"
    import orjson

    sent = orjson.loads(last_call(gateway.store, "createRun").body)
    assert sent == {
        "displayName": "n",
        "plugin": {"id": "spark"},
        "labels": {"owner": "ana"},
        "priority": 50,
    }


async def test_create_job_full(gateway: Gateway) -> None:
    body = {
        "name": "n",
        "engine": "flink",
        "owner": "ana",
        "priority": "high",
        "params": {"a": 1, "b": "x", "c": True},
        "tags": ["t1", "t2"],
        "callback_url": "https://hooks.example/x",
    }
    answer = await gateway.call("POST", "/api/v1/jobs", json=body)
    assert answer.status == 201
    job = answer.json
    assert (job["priority"], job["params"], job["tags"], job["callback_url"]) == (
        "high",
        body["params"],
        body["tags"],
        body["callback_url"],
    )
    import orjson

    sent = orjson.loads(last_call(gateway.store, "createRun").body)
    assert sent["priority"] == 80
    assert sent["notification"] == {"webhook": {"url": "https://hooks.example/x"}}


@pytest.mark.parametrize(("priority", "number"), [("high", 80), ("normal", 50), ("low", 20)])
async def test_set_job_priority_is_a_merge_patch(
    gateway: Gateway, priority: str, number: int
) -> None:
    answer = await gateway.call("PUT", "/api/v1/jobs/5/priority", json={"priority": priority})
    assert answer.status == 200
    assert answer.json["priority"] == priority
    call = last_call(gateway.store, "updateRun")
    assert call.header(
        "Content-Type",
    ).startswith("application/merge-patch+json")  # type: ignore[union-attr]
    assert call.body == b'{"priority":%d}' % number


async def test_list_jobs_defaults(gateway: Gateway, store: RunStore) -> None:
    answer = await gateway.call("GET", "/api/v1/jobs")
    assert answer.status == 200
    page = answer.json
    assert (page["page"], page["per_page"], page["total"]) == (1, 20, len(store.runs))
    ids = [j["job_id"] for j in page["jobs"]]
    assert ids == sorted(ids, reverse=True)
    call = last_call(store, "listRuns")
    assert sorted(call.query_string.split("&")) == ["pageSize=20", "skip=0"]


async def test_list_jobs_queued_owner_and_paging(gateway: Gateway, store: RunStore) -> None:
    answer = await gateway.call(
        "GET",
        "/api/v1/jobs",
        params={"status": "QUEUED", "owner": "a=b+c", "page": "3", "per_page": "7"},
    )
    assert answer.status == 200
    assert (answer.json["page"], answer.json["per_page"]) == (3, 7)
    call = last_call(store, "listRuns")
    assert call.query_string.count("state=") == 2
    assert "state=PENDING" in call.query_string and "state=SCHEDULED" in call.query_string
    assert "skip=14" in call.query_string and "pageSize=7" in call.query_string
    from urllib.parse import parse_qs

    assert parse_qs(call.query_string)["label"] == ["owner=a=b+c"]


async def test_list_jobs_filters_by_owner(gateway: Gateway, store: RunStore) -> None:
    owner = next(r.labels["owner"] for r in store.runs.values() if "owner" in r.labels)
    page = (await gateway.call("GET", "/api/v1/jobs", params={"owner": owner})).json
    assert page["jobs"] and all(j["owner"] == owner for j in page["jobs"])
    assert page["total"] == sum(1 for r in store.runs.values() if r.labels.get("owner") == owner)


async def test_cancel_job(gateway: Gateway) -> None:
    answer = await gateway.call("POST", "/api/v1/jobs/5/cancel")
    assert answer.status == 200 and answer.json["status"] == "CANCELLED"
    assert last_call(gateway.store, "cancelRun").path == "/v2/runs/run-5:cancel"


async def test_cancel_finished_job_is_conflict(gateway: Gateway) -> None:
    answer = await gateway.call("POST", "/api/v1/jobs/1/cancel")
    assert answer.status == 409
    assert answer.json["code"] == 409 and answer.json["error"]


async def test_delete_job(gateway: Gateway, store: RunStore) -> None:
    answer = await gateway.call("DELETE", "/api/v1/jobs/6")
    assert answer.status == 204 and answer.body == b""
    assert store.get_run(6) is None


async def test_get_job_logs_escapes_and_tail(gateway: Gateway, store: RunStore) -> None:
    store.logs[3] = [
        LogEntry("2024-03-02T10:00:00Z", "stdout", "plain"),
        LogEntry("2024-03-02T10:00:01.5+01:00", "stderr", "a\\b\r\nc"),
    ]
    answer = await gateway.call("GET", "/api/v1/jobs/3/logs")
    assert answer.status == 200
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert answer.body == b"1709373600 stdout plain\n1709370001 stderr a\\\\b\\r\\nc\n"
    assert "limit=1000" in last_call(store, "listRunLogs").query_string
    tail = await gateway.call("GET", "/api/v1/jobs/3/logs?tail=1")
    assert tail.body.count(b"\n") == 1
    assert "limit=1" in last_call(store, "listRunLogs").query_string


async def test_get_job_logs_empty(gateway: Gateway, store: RunStore) -> None:
    store.logs[5] = []
    answer = await gateway.call("GET", "/api/v1/jobs/5/logs")
    assert answer.status == 200 and answer.body == b""


async def test_get_job_stats_is_gone_and_sends_nothing(gateway: Gateway) -> None:
    before = len(gateway.store.seen)
    for key in ("k", None):
        answer = await gateway.call("GET", "/api/v1/jobs/1/stats", key=key)
        assert answer.status == 410
        assert answer.header("Deprecation") == "@1767225600"
        assert answer.header("Sunset") == "Fri, 01 Jan 2027 00:00:00 GMT"
        assert answer.json["code"] == 410
    assert len(gateway.store.seen) == before


async def test_list_engines_enabled_sorted_unique(gateway: Gateway, store: RunStore) -> None:
    answer = await gateway.call("GET", "/api/v1/engines")
    assert answer.status == 200
    expected = sorted({p.id for p in store.plugins if p.enabled})
    assert answer.json == {"engines": expected}


@pytest.mark.parametrize(
    ("health", "status", "expected"),
    [
        (Health("SERVING", {}), 200, "ok"),
        (Health("SERVING", {"db": "ok", "queue": "ok"}), 200, "ok"),
        (Health("SERVING", {"db": "ok", "queue": "failing"}), 200, "degraded"),
        (Health("NOT_SERVING", {}), 503, "degraded"),
    ],
)
async def test_get_status(
    gateway: Gateway, store: RunStore, health: Health, status: int, expected: str
) -> None:
    store.health = health
    answer = await gateway.call("GET", "/api/v1/status", key=None)
    assert answer.status == status
    assert answer.json == {"status": expected}


async def test_request_id_kept_or_made(gateway: Gateway) -> None:
    answer = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "abc-123:x"})
    assert answer.header("X-Request-ID") == "abc-123:x"
    call = last_call(gateway.store, "getRun")
    assert call.header("X-Correlation-ID") == "abc-123:x"
    traceparent = call.header("traceparent")
    assert traceparent is not None
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2)
    bad = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "bad id!"})
    made = bad.header("X-Request-ID")
    assert made and made != "bad id!"
    assert last_call(gateway.store, "getRun").header("X-Correlation-ID") == made


async def test_incoming_traceparent_is_continued(gateway: Gateway) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await gateway.call("GET", "/api/v1/jobs/1", headers={"traceparent": parent})
    sent = last_call(gateway.store, "getRun").header("traceparent")
    assert sent is not None
    assert sent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert sent.split("-")[2] != "b7ad6b7169203331"


async def test_hop_by_hop_and_key_never_forwarded(gateway: Gateway) -> None:
    await gateway.call(
        "GET",
        "/api/v1/jobs/1",
        headers={
            "Connection": "keep-alive, X-Secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Upgrade": "websocket",
            "Proxy-Authorization": "Basic eA==",
            "X-Secret": "s",
        },
    )
    call = last_call(gateway.store, "getRun")
    for name in ("X-Api-Key", "Keep-Alive", "TE", "Upgrade", "Proxy-Authorization", "X-Secret"):
        assert call.header(name) is None, name


async def test_no_key_no_authorization(gateway: Gateway) -> None:
    answer = await gateway.call("GET", "/api/v1/jobs/1", key=None)
    assert answer.status == 401
    assert last_call(gateway.store, "getRun").header("Authorization") is None


async def test_run_created_through_gateway_is_readable(gateway: Gateway, store: RunStore) -> None:
    created = (
        await gateway.call(
            "POST",
            "/api/v1/jobs",
            json={"name": "x", "engine": "shell", "owner": "o", "priority": "low"},
        )
    ).json
    again = (await gateway.call("GET", f"/api/v1/jobs/{created['job_id']}")).json
    assert again == created
    assert isinstance(store.get_run(created["job_id"]), Run)


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_both_transports_carry_every_part(
    make_gateway: GatewayFactory, store: RunStore, transport: str
) -> None:
    gateway = await make_gateway(upstream_transport=transport)
    created = await gateway.call(
        "POST", "/api/v1/jobs", json={"name": "n", "engine": "spark", "owner": "o w+=ü"}
    )
    assert created.status == 201 and created.json["owner"] == "o w+=ü"
    page = await gateway.call("GET", "/api/v1/jobs", params={"owner": "o w+=ü", "per_page": "5"})
    assert [j["job_id"] for j in page.json["jobs"]] == [created.json["job_id"]]
    patched = await gateway.call(
        "PUT", f"/api/v1/jobs/{created.json['job_id']}/priority", json={"priority": "low"}
    )
    assert patched.json["priority"] == "low"
    assert (await gateway.call("DELETE", "/api/v1/jobs/6")).status == 204


async def test_answer_memo_only_serves_identical_answers(gateway: Gateway, store: RunStore) -> None:
    first = await gateway.call("GET", "/api/v1/jobs", params={"per_page": "3"})
    again = await gateway.call("GET", "/api/v1/jobs", params={"per_page": "3"})
    assert again.json == first.json
    memo = gateway.service.runtime.current.operations["listJobs"].answers
    assert memo is not None and memo.hits == 1
    # Another page is another key; a changed run is another answer body.
    other = await gateway.call("GET", "/api/v1/jobs", params={"per_page": "2"})
    assert len(other.json["jobs"]) == 2
    newest = max(store.runs)
    store.runs[newest].display_name = "renamed"
    store.runs[newest].touch()
    changed = await gateway.call("GET", "/api/v1/jobs", params={"per_page": "3"})
    assert changed.json["jobs"][0]["name"] == "renamed"
    assert memo.hits == 1
    # Answers that break the contract are never memoised, and never served from it.
    store.inject(
        Fault(
            operation="listRuns",
            status=200,
            body=b'{"runs": []}',
            content_type="application/json",
            times=2,
        )
    )
    for _ in range(2):
        assert (await gateway.call("GET", "/api/v1/jobs")).status == 502


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_recorded_spans_continue_the_callers_trace(
    make_gateway: GatewayFactory, store: RunStore, transport: str
) -> None:
    gateway = await make_gateway(upstream_transport=transport, tracing={"sample_ratio": 1.0})
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await gateway.call("GET", "/api/v1/jobs/1", headers={"traceparent": parent})
    _, trace_id, span_id, flags = last_call(store, "getRun").header("traceparent").split("-")  # type: ignore[union-attr]
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span_id != "00f067aa0ba902b7" and flags == "01"
