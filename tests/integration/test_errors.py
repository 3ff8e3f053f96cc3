"""Every row of MAPPING.md's status table, transport failures, and bad Phase 1 input."""

from __future__ import annotations

import asyncio
import socket

import pytest
from gwsupport import Gateway, GatewayFactory

from shimgw.reference import Fault, RunStore


def problem(title: str, status: int, detail: str | None = None) -> bytes:
    import orjson

    body = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("path", "method", "v2", "v2_op", "p1"),
    [
        ("/api/v1/jobs/1", "GET", 400, "getRun", 400),
        ("/api/v1/jobs/1", "GET", 422, "getRun", 400),
        ("/api/v1/jobs/1", "GET", 401, "getRun", 401),
        ("/api/v1/jobs/1", "GET", 403, "getRun", 401),
        ("/api/v1/jobs/1", "GET", 404, "getRun", 404),
        ("/api/v1/jobs/6", "DELETE", 409, "deleteRun", 409),
        ("/api/v1/jobs/6", "DELETE", 412, "deleteRun", 409),
        ("/api/v1/jobs/1", "GET", 504, "getRun", 504),
        ("/api/v1/jobs/1", "GET", 418, "getRun", 400),
        ("/api/v1/jobs/1", "GET", 500, "getRun", 502),
        ("/api/v1/jobs/1", "GET", 502, "getRun", 502),
        ("/api/v1/jobs/1", "GET", 507, "getRun", 502),
        # Statuses the Phase 1 operation does not promise become 502.
        ("/api/v1/jobs/1", "GET", 409, "getRun", 502),
        ("/api/v1/engines", "GET", 400, "listPlugins", 502),
        ("/api/v1/engines", "GET", 404, "listPlugins", 502),
    ],
)
async def test_status_table(
    gateway: Gateway, store: RunStore, path: str, method: str, v2: int, v2_op: str, p1: int
) -> None:
    store.inject(Fault(operation=v2_op, status=v2, body=problem("Title", v2, f"detail {v2}")))
    answer = await gateway.call(method, path)
    assert answer.status == p1
    body = answer.json
    assert body["code"] == p1
    assert body["request_id"] == answer.header("X-Request-ID")
    assert f"detail {v2}" in body["error"]


async def test_problem_title_used_when_no_detail(gateway: Gateway, store: RunStore) -> None:
    store.inject(Fault(operation="getRun", status=404, body=problem("No such run", 404)))
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.json["error"] == "No such run"


async def test_429_keeps_retry_after(gateway: Gateway, store: RunStore) -> None:
    store.inject(Fault(operation="getRun", status=429, headers={"Retry-After": "7"}))
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert (answer.status, answer.header("Retry-After")) == (429, "7")


@pytest.mark.parametrize("retry_after", ["3", None])
async def test_503_keeps_retry_after_when_present(
    gateway: Gateway, store: RunStore, retry_after: str | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    store.inject(Fault(operation="getRun", status=503, headers=headers))
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 503
    assert answer.header("Retry-After") == retry_after


async def test_authorization_never_comes_back(gateway: Gateway, store: RunStore) -> None:
    store.inject(
        Fault(
            operation="getRun",
            status=401,
            headers={"Authorization": "Bearer leaked", "WWW-Authenticate": "Bearer"},
        )
    )
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 401
    assert answer.header("Authorization") is None


@pytest.mark.parametrize(
    "fault",
    [
        # aiohttp retries an idempotent call once when a connection closes unanswered, so an
        # upstream that drops every connection is what a client can see.
        Fault(operation="getRun", drop=True, times=-1),
        Fault(operation="getRun", garbage=b"this is not HTTP\r\n\r\n"),
        Fault(operation="getRun", garbage=b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"id"'),
    ],
    ids=["closed", "garbage", "truncated"],
)
@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_broken_transport_is_502(
    make_gateway: GatewayFactory, store: RunStore, fault: Fault, transport: str
) -> None:
    gateway = await make_gateway(upstream_transport=transport)
    store.inject(fault)
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 502
    assert answer.json["code"] == 502


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_unreachable_upstream_is_502(make_gateway: GatewayFactory, transport: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # bound but never listening: connections are refused
        gateway = await make_gateway(upstream_transport=transport)
        runtime = gateway.service.runtime
        config = dict(runtime.current.config.raw)
        config["upstreams"] = {"stable": {"url": f"http://127.0.0.1:{dead}", "weight": 1}}
        gateway.write_config(config)
        assert await runtime.reload("test")
        answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 502
    assert "unreachable" in answer.json["error"]


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_slow_answer_is_504(
    make_gateway: GatewayFactory, store: RunStore, transport: str
) -> None:
    gateway = await make_gateway(upstream_transport=transport)
    store.inject(Fault(operation="getRun", delay=3.0))  # timeouts.total is 2 s in tests
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 504


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_silent_listener_is_504(make_gateway: GatewayFactory, transport: str) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = await make_gateway(upstream_transport=transport)
    config = dict(gateway.service.runtime.current.config.raw)
    config["upstreams"] = {"stable": {"url": f"http://127.0.0.1:{port}", "weight": 1}}
    config["timeouts"] = {"connect": 0.5, "total": 1}
    gateway.write_config(config)
    assert await gateway.service.runtime.reload("test")
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    server.close()
    assert answer.status == 504


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (
            Fault(
                operation="getRun",
                status=200,
                body=b'{"id": "run-1"}',
                content_type="application/json",
            ),
            "body",
        ),
        (
            Fault(operation="getRun", status=200, body=b"<html>", content_type="text/html"),
            "content type",
        ),
        (
            Fault(
                operation="getRun",
                status=404,
                body=problem("x", 404),
                content_type="application/json",
            ),
            "content type",
        ),
        (Fault(operation="getRun", status=429), "Retry-After"),
        # 201 is not listed for getRun, so it falls under `default`: a problem document.
        (
            Fault(operation="getRun", status=201, body=b"{}", content_type="application/json"),
            "content type",
        ),
        (Fault(operation="getHealth", status=500), "not in the contract"),
    ],
    ids=[
        "missing-fields",
        "html",
        "problem-as-json",
        "429-without-retry-after",
        "unlisted-2xx",
        "health-500",
    ],
)
async def test_answer_breaking_phase2_is_502(
    gateway: Gateway, store: RunStore, fault: Fault, why: str
) -> None:
    store.inject(fault)
    path = "/api/v1/status" if fault.operation == "getHealth" else "/api/v1/jobs/1"
    answer = await gateway.call("GET", path)
    assert answer.status == 502
    assert why in answer.json["error"]


async def test_report_mode_logs_and_serves(make_gateway: GatewayFactory, store: RunStore) -> None:
    gateway = await make_gateway(validation={"responses": "report"})
    run = store.get_run(1)
    assert run is not None
    body = {**run.to_json(), "surprise": "extra field"}
    import orjson

    store.inject(
        Fault(
            operation="getRun", status=200, body=orjson.dumps(body), content_type="application/json"
        )
    )
    answer = await gateway.call("GET", "/api/v1/jobs/1")
    assert answer.status == 200 and answer.json["job_id"] == 1
    runtime = gateway.service.runtime
    assert runtime.metrics.violations.labels("phase2", "getJob", "received")._value.get() == 1
    window = runtime.rollback.windows["stable"]
    assert (window.total, window.errors) == (1, 1)  # one answer, counted once, as an error


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "names"),
    [
        (
            "POST",
            "/api/v1/jobs",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            "body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            {"json": {"name": 5, "engine": "spark", "owner": "o"}},
            "body.name",
        ),
        ("POST", "/api/v1/jobs", {"json": {"engine": "spark", "owner": "o"}}, "name"),
        (
            "POST",
            "/api/v1/jobs",
            {"json": {"name": "n", "engine": "spark", "owner": "o", "extra": 1}},
            "extra",
        ),
        (
            "POST",
            "/api/v1/jobs",
            {"json": {"name": "n", "engine": "spark", "owner": "o", "priority": "urgent"}},
            "body.priority",
        ),
        ("POST", "/api/v1/jobs", {}, "body"),
        (
            "POST",
            "/api/v1/jobs",
            {
                "data": b'{"name":"n","engine":"spark","owner":"o"}',
                "headers": {"Content-Type": "text/plain"},
            },
            "content type",
        ),
        ("GET", "/api/v1/jobs/abc", {}, "job_id"),
        ("GET", "/api/v1/jobs/0", {}, "job_id"),
        ("GET", "/api/v1/jobs/9999999999999999999", {}, "job_id"),
        ("GET", "/api/v1/jobs/1%0A", {}, "job_id"),
        ("GET", "/api/v1/jobs/1/logs?tail=5%0A", {}, "tail"),
        ("GET", "/api/v1/jobs?page=0", {}, "page"),
        ("GET", "/api/v1/jobs?per_page=101", {}, "per_page"),
        ("GET", "/api/v1/jobs?status=PENDING", {}, "status"),
        ("GET", "/api/v1/jobs?owner=", {}, "owner"),
        ("GET", "/api/v1/jobs/1/logs?tail=x", {}, "tail"),
        ("PUT", "/api/v1/jobs/1/priority", {"json": {"priority": "urgent"}}, "priority"),
        ("PUT", "/api/v1/jobs/1/priority", {"json": []}, "body"),
        # Valid Phase 1, but /v2 cannot carry it: a label value cannot hold a line break.
        # The client hears about its own field, never about /v2's `label`.
        ("GET", "/api/v1/jobs?owner=a%0Ab", {}, "query parameter 'owner': "),
        ("GET", "/api/v1/jobs?page=1&page=2", {}, "query parameter 'page': given 2 times"),
        ("GET", "/api/v1/jobs/1/logs?tail=1&tail=1", {}, "query parameter 'tail': given 2"),
    ],
)
async def test_bad_input_is_400_naming_the_field_and_sends_nothing(
    gateway: Gateway,
    store: RunStore,
    method: str,
    path: str,
    kwargs: dict[str, object],
    names: str,
) -> None:
    before = len(store.seen)
    answer = await gateway.call(method, path, **kwargs)  # type: ignore[arg-type]
    assert answer.status == 400, answer.body
    assert names in answer.json["error"]
    assert "label" not in answer.json["error"] and "phase2" not in answer.json["error"]
    assert answer.json["code"] == 400
    assert len(store.seen) == before


async def test_huge_body_is_refused(make_gateway: GatewayFactory, store: RunStore) -> None:
    gateway = await make_gateway(limits={"max_body_bytes": 4096})
    before = len(store.seen)
    big = {"name": "n", "engine": "spark", "owner": "o", "params": {"x": "y" * 10000}}
    answer = await gateway.call("POST", "/api/v1/jobs", json=big)
    assert answer.status == 400 and "limit" in answer.json["error"]

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 1000

    chunked = await gateway.call(
        "POST",
        "/api/v1/jobs",
        data=chunks(),  # type: ignore[arg-type]
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status == 400 and "limit" in chunked.json["error"]
    assert len(store.seen) == before


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nope", 404),
        ("GET", "/v2/runs", 404),
        ("GET", "/api/v1/jobs/1/", 404),
        ("GET", "/api/v1/status%0A", 404),
        ("OPTIONS", "/api/v1/jobs", 405),
        ("GET", "/", 404),
        ("PATCH", "/api/v1/jobs/1", 405),
        ("POST", "/api/v1/status", 405),
        ("DELETE", "/api/v1/jobs", 405),
    ],
)
async def test_unknown_routes(
    gateway: Gateway, store: RunStore, method: str, path: str, status: int
) -> None:
    before = len(store.seen)
    answer = await gateway.call(method, path)
    assert answer.status == status
    assert answer.json["code"] == status and answer.json["request_id"]
    if status == 405:
        assert answer.header("Allow")
    assert len(store.seen) == before


async def test_odd_headers(gateway: Gateway) -> None:
    answer = await gateway.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "x" * 129})
    assert answer.status == 200
    assert answer.header("X-Request-ID") != "x" * 129
    answer = await gateway.call("GET", "/api/v1/jobs/1", key="k" * 4000)
    assert answer.status == 200


async def raw_request(gateway: Gateway, head: bytes) -> bytes:
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    await writer.drain()
    answer = await reader.read(65536)
    writer.close()
    return answer


async def test_undecodable_header_bytes_are_not_a_crash(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(
        routing={"groups": [{"name": "g", "upstream": "stable", "key_sha256": ["0" * 64]}]}
    )
    answer = await raw_request(
        gateway,
        b"GET /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\n"
        b"X-Api-Key: \xff\xfe\r\nX-Shimgw-Upstream: stable\r\n"
        b"X-Shimgw-Admin-Token: \xff\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert b"X-Request-ID: " in answer


async def test_stray_body_on_a_bodyless_operation_is_ignored(gateway: Gateway) -> None:
    answer = await gateway.call("GET", "/api/v1/status", key=None, data=b"x" * 2_000_000)
    assert answer.status == 200
