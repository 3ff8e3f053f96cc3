"""The engine as tables: one MAPPING.md row, one case. Plain data in, plain data out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from shimgw.errors import TranslatedError
from shimgw.messages import ABSENT, ParsedRequest, V2Response
from shimgw.translate.engine import answer_locally, to_phase1, to_v2, translate_error
from shimgw.translate.nodes import Translations
from shimgw.translate.plan import LocalPlan, OperationPlan

RUN: dict[str, Any] = {
    "id": "run-42",
    "displayName": "nightly",
    "plugin": {"id": "spark", "version": "3"},
    "state": "RUNNING",
    "priority": 50,
    "labels": {"owner": "ana", "team": "x"},
    "tags": ["a"],
    "parameters": {"k": 1},
    "createTime": "2024-01-01T00:00:00Z",
    "updateTime": "2024-01-01T00:00:10.75Z",
    "etag": "e",
}


def request(
    op: str,
    *,
    path: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = ABSENT,
) -> ParsedRequest:
    return ParsedRequest(
        operation=op,
        path=path or {},
        query=query or {},
        headers={"x-api-key": "K"} if headers is None else headers,
        body=body,
    )


def answer(
    plans: Mapping[str, OperationPlan],
    translations: Translations,
    op: str,
    status: int,
    data: Any,
    req: ParsedRequest | None = None,
) -> Any:
    result = to_phase1(
        plans[op],
        translations.errors,
        req or request(op),
        V2Response(status=status, headers={}, content_type="application/json", body=b"", data=data),
    )
    return orjson.loads(result.body) if result.content_type == "application/json" else result


def job(plans: Mapping[str, OperationPlan], translations: Translations, **run: Any) -> Any:
    return answer(plans, translations, "getJob", 200, {**RUN, **run})


@pytest.mark.parametrize(
    ("field", "run", "expected"),
    [
        ("job_id", {"id": "run-7"}, 7),
        ("job_id", {"id": "run-999999999999999999"}, 999999999999999999),
        ("name", {"displayName": "x y"}, "x y"),
        ("engine", {"plugin": {"id": "flink", "version": "1"}}, "flink"),
        ("owner", {"labels": {"owner": "bob"}}, "bob"),
        ("owner", {"labels": {}}, ""),
        ("status", {"state": "PENDING"}, "QUEUED"),
        ("status", {"state": "SCHEDULED"}, "QUEUED"),
        ("status", {"state": "RUNNING"}, "RUNNING"),
        ("status", {"state": "SUCCEEDED"}, "SUCCEEDED"),
        ("status", {"state": "FAILED"}, "FAILED"),
        ("status", {"state": "CANCELLING"}, "CANCELLING"),
        ("status", {"state": "CANCELLED"}, "CANCELLED"),
        ("priority", {"priority": 100}, "high"),
        ("priority", {"priority": 67}, "high"),
        ("priority", {"priority": 66}, "normal"),
        ("priority", {"priority": 34}, "normal"),
        ("priority", {"priority": 33}, "low"),
        ("priority", {"priority": 0}, "low"),
        (
            "params",
            {"parameters": {"a": "b", "n": 2.5, "f": False}},
            {"a": "b", "n": 2.5, "f": False},
        ),
        ("tags", {"tags": ["x", "y"]}, ["x", "y"]),
        ("created", {"createTime": "1970-01-01T00:00:00Z"}, 0),
        ("created", {"createTime": "2024-01-01T01:00:00+01:00"}, 1704067200),
        ("created", {"createTime": "2023-12-31T23:30:00.999-00:30"}, 1704067200),
        ("updated", {"updateTime": "2024-01-01T00:00:10.75Z"}, 1704067210),
        ("started", {}, None),
        ("started", {"startTime": "2024-01-01T00:00:01Z"}, 1704067201),
        ("finished", {}, None),
        ("finished", {"endTime": "2024-01-01T00:00:02+00:00"}, 1704067202),
        ("exit_code", {}, None),
        ("exit_code", {"result": {"exitCode": 3, "message": "m"}}, 3),
        ("callback_url", {}, None),
        ("callback_url", {"notification": {"webhook": {"url": "https://h/x"}}}, "https://h/x"),
    ],
)
def test_run_to_job(
    plans: Mapping[str, OperationPlan],
    translations: Translations,
    field: str,
    run: dict[str, Any],
    expected: Any,
) -> None:
    assert job(plans, translations, **run)[field] == expected


def test_job_has_exactly_the_phase1_fields(
    plans: Mapping[str, OperationPlan], translations: Translations
) -> None:
    assert set(job(plans, translations)) == {
        "job_id",
        "name",
        "engine",
        "owner",
        "status",
        "priority",
        "params",
        "tags",
        "created",
        "updated",
        "started",
        "finished",
        "exit_code",
        "callback_url",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"name": "n", "engine": "e", "owner": "o"},
            {"displayName": "n", "plugin": {"id": "e"}, "labels": {"owner": "o"}, "priority": 50},
        ),
        (
            {"name": "n", "engine": "e", "owner": "o", "priority": "high"},
            {"displayName": "n", "plugin": {"id": "e"}, "labels": {"owner": "o"}, "priority": 80},
        ),
        (
            {
                "name": "n",
                "engine": "e",
                "owner": "o",
                "priority": "low",
                "params": {},
                "tags": [],
                "callback_url": "http://c",
            },
            {
                "displayName": "n",
                "plugin": {"id": "e"},
                "labels": {"owner": "o"},
                "priority": 20,
                "parameters": {},
                "tags": [],
                "notification": {"webhook": {"url": "http://c"}},
            },
        ),
    ],
)
def test_create_job_request(
    plans: Mapping[str, OperationPlan], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    call = to_v2(plans["createJob"], request("createJob", body=body))
    assert (call.method, call.path, call.body) == ("POST", "/v2/runs", expected)
    assert call.content_type == "application/json"
    assert call.headers == {"Authorization": "Bearer K", "Content-Type": "application/json"}


def test_no_key_no_authorization(plans: Mapping[str, OperationPlan]) -> None:
    call = to_v2(plans["getJob"], request("getJob", path={"job_id": 5}, headers={}))
    assert call.headers == {}


@pytest.mark.parametrize(
    ("op", "v2_method", "v2_path"),
    [
        ("getJob", "GET", "/v2/runs/run-12"),
        ("cancelJob", "POST", "/v2/runs/run-12:cancel"),
        ("deleteJob", "DELETE", "/v2/runs/run-12"),
        ("getJobLogs", "GET", "/v2/runs/run-12/logs"),
    ],
)
def test_job_id_to_run_id(
    plans: Mapping[str, OperationPlan], op: str, v2_method: str, v2_path: str
) -> None:
    call = to_v2(plans[op], request(op, path={"job_id": 12}, query={"tail": 1000}))
    assert (call.method, call.path, call.path_params) == (v2_method, v2_path, {"runId": "run-12"})


def test_set_priority_is_merge_patch(plans: Mapping[str, OperationPlan]) -> None:
    call = to_v2(
        plans["setJobPriority"],
        request("setJobPriority", path={"job_id": 3}, body={"priority": "normal"}),
    )
    assert (call.method, call.body, call.content_type) == (
        "PATCH",
        {"priority": 50},
        "application/merge-patch+json",
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"page": 1, "per_page": 20}, [("pageSize", "20"), ("skip", "0")]),
        ({"page": 3, "per_page": 7}, [("pageSize", "7"), ("skip", "14")]),
        (
            {"status": "QUEUED", "page": 1, "per_page": 20},
            [("state", "PENDING"), ("state", "SCHEDULED"), ("pageSize", "20"), ("skip", "0")],
        ),
        (
            {"status": "CANCELLING", "page": 1, "per_page": 20},
            [("state", "CANCELLING"), ("pageSize", "20"), ("skip", "0")],
        ),
        (
            {"owner": "a=b", "page": 2, "per_page": 100},
            [("label", "owner=a=b"), ("pageSize", "100"), ("skip", "100")],
        ),
    ],
)
def test_list_jobs_query(
    plans: Mapping[str, OperationPlan], query: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    call = to_v2(plans["listJobs"], request("listJobs", query=query))
    assert sorted(call.query_pairs()) == sorted(expected)


def test_list_jobs_answer(plans: Mapping[str, OperationPlan], translations: Translations) -> None:
    req = request("listJobs", query={"page": 2, "per_page": 1})
    data = {"runs": [RUN], "totalSize": 9, "nextPageToken": "t"}
    page = answer(plans, translations, "listJobs", 200, data, req)
    assert (page["page"], page["per_page"], page["total"]) == (2, 1, 9)
    assert page["jobs"] == [job(plans, translations)]


def test_logs_as_text(plans: Mapping[str, OperationPlan], translations: Translations) -> None:
    data = {
        "entries": [
            {"timestamp": "2024-01-01T00:00:00Z", "stream": "stdout", "message": "hi"},
            {
                "timestamp": "2024-01-01T02:00:01.5+02:00",
                "stream": "stderr",
                "message": "a\\b\rc\nd",
            },
        ]
    }
    result = answer(plans, translations, "getJobLogs", 200, data)
    assert result.content_type == "text/plain; charset=utf-8"
    assert result.body == b"1704067200 stdout hi\n1704067201 stderr a\\\\b\\rc\\nd\n"
    empty = answer(plans, translations, "getJobLogs", 200, {"entries": []})
    assert (empty.status, empty.body) == (200, b"")


def test_engines(plans: Mapping[str, OperationPlan], translations: Translations) -> None:
    plugins = [
        {"id": i, "version": "1", "enabled": e}
        for i, e in [("b", True), ("a", True), ("c", False), ("b", True), ("d", True)]
    ]
    assert answer(plans, translations, "listEngines", 200, {"plugins": plugins}) == {
        "engines": ["a", "b", "d"]
    }
    assert answer(plans, translations, "listEngines", 200, {"plugins": []}) == {"engines": []}


@pytest.mark.parametrize(
    ("status", "data", "expected"),
    [
        (200, {"status": "SERVING"}, (200, "ok")),
        (200, {"status": "SERVING", "checks": {}}, (200, "ok")),
        (200, {"status": "SERVING", "checks": {"a": "ok"}}, (200, "ok")),
        (200, {"status": "SERVING", "checks": {"a": "ok", "b": "failing"}}, (200, "degraded")),
        (200, {"status": "NOT_SERVING"}, (200, "degraded")),
        (503, {"status": "NOT_SERVING"}, (503, "degraded")),
        (503, {"status": "SERVING"}, (503, "degraded")),
    ],
)
def test_status(
    plans: Mapping[str, OperationPlan],
    translations: Translations,
    status: int,
    data: Any,
    expected: tuple[int, str],
) -> None:
    result = to_phase1(
        plans["getStatus"],
        translations.errors,
        request("getStatus"),
        V2Response(status=status, headers={}, content_type="application/json", body=b"", data=data),
    )
    assert (result.status, orjson.loads(result.body)["status"]) == expected


def test_delete_is_empty(plans: Mapping[str, OperationPlan], translations: Translations) -> None:
    result = to_phase1(
        plans["deleteJob"],
        translations.errors,
        request("deleteJob"),
        V2Response(status=204, headers={}, content_type="", body=b"", data=ABSENT),
    )
    assert (result.status, result.body, result.content_type) == (204, b"", None)


def test_stats_answered_locally(
    plans: Mapping[str, OperationPlan], translations: Translations
) -> None:
    plan = plans["getJobStats"]
    assert isinstance(plan, LocalPlan)  # a distinct type: it can never reach to_v2
    answer = answer_locally(plan, request("getJobStats", path={"job_id": 1}))
    assert answer.status == 410
    # Its Deprecation and Sunset are its lifecycle's: the edge adds them to every answer.
    assert answer.headers == ()
    assert dict(translations.operations["getJobStats"].lifecycle) == {
        "Deprecation": "@1767225600",
        "Sunset": "Fri, 01 Jan 2027 00:00:00 GMT",
    }


ALL_PROMISED = frozenset({400, 401, 404, 409, 429, 502, 503, 504})


@pytest.mark.parametrize(
    ("v2", "p1"),
    [
        (400, 400),
        (422, 400),
        (401, 401),
        (403, 401),
        (404, 404),
        (409, 409),
        (412, 409),
        (429, 429),
        (503, 503),
        (504, 504),
        (405, 400),
        (418, 400),
        (451, 400),
        (500, 502),
        (502, 502),
        (501, 502),
        (599, 502),
    ],
)
def test_status_table(translations: Translations, v2: int, p1: int) -> None:
    error = translate_error(
        translations.errors,
        ALL_PROMISED,
        V2Response(
            status=v2,
            headers={},
            content_type="application/problem+json",
            body=b"",
            data={"title": "T", "status": v2, "type": "x"},
        ),
    )
    assert (error.status, error.message) == (p1, "T")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "T", "detail": "D"}, "D"),
        ({"title": "T", "detail": ""}, "T"),
        ({"title": "T"}, "T"),
        (ABSENT, "orchestrator answered 404"),
    ],
)
def test_error_message(translations: Translations, data: Any, message: str) -> None:
    error = translate_error(
        translations.errors,
        ALL_PROMISED,
        V2Response(
            status=404, headers={}, content_type="application/problem+json", body=b"", data=data
        ),
    )
    assert error.message == message


def test_unpromised_status_becomes_502(translations: Translations) -> None:
    error = translate_error(
        translations.errors,
        frozenset({400, 404, 502}),
        V2Response(
            status=409,
            headers={"retry-after": "1"},
            content_type="",
            body=b"",
            data={"title": "busy"},
        ),
    )
    assert (error.status, error.headers) == (502, {})


@pytest.mark.parametrize(
    ("v2", "headers", "kept"),
    [
        (429, {"retry-after": "5"}, {"Retry-After": "5"}),
        (503, {"retry-after": "5"}, {"Retry-After": "5"}),
        (503, {}, {}),
        (404, {"retry-after": "5"}, {}),
    ],
)
def test_retry_after(
    translations: Translations, v2: int, headers: dict[str, str], kept: dict[str, str]
) -> None:
    error = translate_error(
        translations.errors,
        ALL_PROMISED,
        V2Response(status=v2, headers=headers, content_type="", body=b"", data={"title": "t"}),
    )
    assert error.headers == kept


def test_untranslatable_answer_is_502(
    plans: Mapping[str, OperationPlan], translations: Translations
) -> None:
    with pytest.raises(TranslatedError) as caught:
        job(plans, translations, id="job-42")
    assert caught.value.status == 502
