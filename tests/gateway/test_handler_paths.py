"""The handler's other paths, without sockets: memo, bodies, tracing, forced arms, the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from unittest import mock

import orjson
import pytest
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from handler_support import Harness, demo_run, v2_json

from shimgw.reply import Reply
from shimgw.server import build_server

JOB = orjson.dumps({"name": "n", "engine": "spark", "owner": "ana"})
Make = Callable[..., Harness]


async def test_memo_answers_the_same_bytes_once_translated(make_harness: Make) -> None:
    h = make_harness()
    h.upstream.reply = demo_run()
    first = await h.call("GET", "/api/v1/jobs/1")
    second = await h.call("GET", "/api/v1/jobs/1")
    memo = h.runtime.current.operations["getJob"].answers  # type: ignore[union-attr]
    assert memo is not None and (memo.hits, memo.misses, len(memo)) == (1, 1, 1)
    assert first.body == second.body and second.status == 200
    window = h.runtime.rollback.windows["stable"]
    assert (window.total, window.errors) == (2, 0)  # a hit still counts for the upstream


async def test_memo_is_off_outside_enforce_and_with_cache_off(make_harness: Make) -> None:
    for sections in ({"validation": {"responses": "report"}}, {"cache": {"max_bytes": 0}}):
        h = make_harness(**sections)
        h.upstream.reply = demo_run()
        await h.call("GET", "/api/v1/jobs/1")
        await h.call("GET", "/api/v1/jobs/1")
        memo = h.runtime.current.operations["getJob"].answers  # type: ignore[union-attr]
        assert memo is None or memo.hits == 0


async def test_access_log_off_writes_no_line(make_harness: Make) -> None:
    h = make_harness(logging={"access": False})
    response = await h.call("GET", "/api/v1/jobs/1/stats")
    assert response.status == 410
    assert h.access_lines() == []
    assert h.metric("shimgw_requests_total", operation="getJobStats", status="410", upstream="-")


async def test_a_body_is_read_translated_and_sent(make_harness: Make) -> None:
    h = make_harness()
    h.upstream.reply = demo_run()
    h.upstream.reply = v2_json(
        202, orjson.loads(demo_run().body), Location="/v2/runs/run-1", ETag='"e"'
    )
    response = await h.call("POST", "/api/v1/jobs", body=JOB)
    assert response.status == 201, response.body
    (call,) = h.upstream.calls
    assert call.method == "POST" and call.body["displayName"] == "n"
    assert call.headers["X-Correlation-ID"] == response.headers["X-Request-ID"]


async def test_a_body_over_the_limit_is_a_400(make_harness: Make) -> None:
    h = make_harness(limits={"max_body_bytes": 1024})
    response = await h.call("POST", "/api/v1/jobs", body=b" " * 2000 + JOB)
    error = json.loads(response.body)  # type: ignore[arg-type]
    assert (response.status, error["error"][:5]) == (400, "body:")
    assert h.upstream.calls == []


def _broken_payload() -> StreamReader:
    payload = StreamReader(mock.Mock(), 1 << 16, loop=asyncio.get_running_loop())
    payload.feed_data(b'{"name": ')
    payload.set_exception(ConnectionResetError("client went away"))
    return payload


async def test_a_body_that_cannot_be_read_is_a_400(make_harness: Make) -> None:
    h = make_harness()
    request = make_mocked_request(
        "POST",
        "/api/v1/jobs",
        headers={"Content-Type": "application/json", "Content-Length": "40", "X-Api-Key": "k"},
        payload=_broken_payload(),
    )
    response = await h.gateway.handle(request)
    assert response.status == 400
    assert json.loads(response.body)["error"] == "body: could not be read"  # type: ignore[attr-defined]


async def test_a_body_that_stops_half_way_is_a_400_and_counted(make_harness: Make) -> None:
    h = make_harness(timeouts={"client_body": 0.01})
    payload = StreamReader(mock.Mock(), 1 << 16, loop=asyncio.get_running_loop())
    payload.feed_data(b'{"name": ')  # and nothing more, ever
    request = make_mocked_request(
        "POST",
        "/api/v1/jobs",
        headers={"Content-Type": "application/json", "Content-Length": "40", "X-Api-Key": "k"},
        payload=payload,
    )
    response = await h.gateway.handle(request)
    assert response.status == 400
    assert "not received within" in json.loads(response.body)["error"]  # type: ignore[attr-defined]
    assert h.metric("shimgw_client_timeouts_total", phase="body") == 1


async def test_tracing_continues_the_callers_trace(make_harness: Make) -> None:
    h = make_harness(tracing={"sample_ratio": 1.0})
    h.upstream.reply = demo_run()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = await h.call("GET", "/api/v1/jobs/1", headers={"traceparent": parent})
    assert response.status == 200
    (call,) = h.upstream.calls
    sent = call.headers["traceparent"]
    assert sent.split("-")[1] == trace_id and sent != parent  # same trace, our own span


async def test_the_client_cancelled_is_counted_not_answered(make_harness: Make) -> None:
    h = make_harness()
    h.upstream.reply = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await h.call("GET", "/api/v1/jobs/1")
    assert h.metric("shimgw_requests_total", operation="getJob", status="0", upstream="stable")
    (line,) = h.access_lines()
    assert line["status"] == 0


async def test_draining_closes_each_answered_connection(make_harness: Make) -> None:
    h = make_harness()
    h.gateway.draining = True
    response = await h.call("GET", "/api/v1/jobs/1/stats")
    assert response.status == 410 and response.keep_alive is False


async def test_the_server_hands_every_request_to_the_gateway(make_harness: Make) -> None:
    h = make_harness()
    server = build_server(h.gateway)  # aiohttp's low-level server: no router of aiohttp's
    request = make_mocked_request("OPTIONS", "*", headers={"X-Request-ID": "r-2"})
    response = await server.request_handler(request)
    assert isinstance(response, Reply)
    assert response.status == 404 and response.headers["X-Request-ID"] == "r-2"
    assert orjson.loads(response.body)["code"] == 404  # type: ignore[arg-type]


async def test_a_header_that_would_split_the_answer_is_never_sent(make_harness: Make) -> None:
    # An upstream value the translation keeps (a 503's Retry-After) with a line break in it:
    # the answer would smuggle a header of its own. The client gets the 502 instead.
    h = make_harness(validation={"responses": "report"})
    problem = {"type": "about:blank", "title": "busy", "status": 503}
    h.upstream.reply = v2_json(503, problem, **{"Retry-After": "1\r\nSet-Cookie: a=b"})
    response = await h.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "r-9"})
    assert response.status == 502, response.body
    assert response.headers["X-Request-ID"] == "r-9"
    assert "Set-Cookie" not in response.headers and not response.unsafe()


async def test_an_unsampled_request_starts_no_step_spans(make_harness: Make) -> None:
    # Sampling on, but this caller's trace is not sampled (flags 00; parent-based): the
    # sampler's no is known once the server span exists, and nothing more is built.
    h = make_harness(tracing={"sample_ratio": 1.0})
    h.upstream.reply = demo_run()
    tracer = h.gateway.tracer
    assert tracer is not None
    started: list[str] = []
    real = tracer.start_span  # every span starts here (start_as_current_span calls it)

    def counting(name: str, *args: object, **kwargs: object) -> object:
        started.append(name)
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with mock.patch.object(tracer, "start_span", counting):
        unsampled = f"00-{trace_id}-00f067aa0ba902b7-00"
        response = await h.call(
            "GET", "/api/v1/jobs/1", headers={"traceparent": unsampled, "tracestate": "k=v"}
        )
        assert response.status == 200 and started == ["phase1"]
        sent = h.upstream.calls[0].headers
        assert sent["traceparent"].split("-")[1] == trace_id  # the caller's trace, continued
        assert sent["traceparent"].endswith("-00") and sent["traceparent"] != unsampled
        assert sent["tracestate"] == "k=v"
        started.clear()
        sampled = f"00-{trace_id}-00f067aa0ba902b7-01"
        await h.call("GET", "/api/v1/jobs/1", headers={"traceparent": sampled})
        assert started[0] == "phase1" and len(started) >= 4  # the steps and the /v2 call
