"""Traces exported over OTLP/HTTP to a real receiver this test starts (aiohttp on loopback,
decoding the protobuf with opentelemetry-proto): the tree of one Phase 1 request, its
parent links, the caller's trace id, and the orchestrator seeing the client span as its
parent. Plus: the default records nothing, and bad OTEL_* values are one clear line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from gwsupport import GatewayFactory
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shimgw.config import TracingConfig
from shimgw.errors import ConfigError
from shimgw.reference import RunStore
from shimgw.tracing import settings

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@dataclass
class Receiver:
    url: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)


def decoded(span: Any) -> dict[str, Any]:
    attributes = {}
    for kv in span.attributes:
        value = kv.value
        attributes[kv.key] = getattr(value, value.WhichOneof("value"))
    return {
        "name": span.name,
        "kind": span.kind,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent": span.parent_span_id.hex(),
        "attributes": attributes,
    }


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver("")

    async def traces(request: web.Request) -> web.Response:
        got.content_types.add(request.content_type)
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in message.resource_spans:
            got.resources.append(
                {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            )
            for scope in resource_spans.scope_spans:
                got.spans += [decoded(s) for s in scope.spans]
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    got.url = f"http://127.0.0.1:{port}"
    yield got
    await runner.cleanup()


async def spans_of(receiver: Receiver, trace_id: str, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        mine = [s for s in receiver.spans if s["trace_id"] == trace_id]
        if len(mine) >= count:
            return mine
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(receiver.spans)} spans received, not {count} of {trace_id}")


def tree(spans: list[dict[str, Any]]) -> list[str]:
    """Indented names, children under their parent (the closing note's picture)."""
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_parent.setdefault(span["parent"], []).append(span)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in by_parent.get(parent, []):
            lines.append("  " * depth + span["name"])
            walk(span["span_id"], depth + 1)

    walk(CALLER_SPAN, 0)
    return lines


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_one_request_exports_its_span_tree(
    transport: str,
    receiver: Receiver,  # first: torn down after the gateway has flushed its spans
    make_gateway: GatewayFactory,
    store: RunStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shimgw-under-test")
    # No memo: every answer checked and translated.
    gateway = await make_gateway(cache={"max_bytes": 0}, upstream_transport=transport)
    caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    answer = await gateway.call(
        "GET", "/api/v1/jobs/1", headers={"traceparent": caller, "X-Request-ID": "req-42"}
    )
    assert answer.status == 200
    spans = await spans_of(receiver, CALLER_TRACE, 6)
    print("\n".join(tree(spans)))  # pytest -s shows the tree, then each span as received
    for span in spans:
        print(f"{span['name']}: span {span['span_id']} parent {span['parent']}", span["attributes"])
    assert tree(spans) == [
        "GET getJob",
        "  phase1 check",
        "  translate to v2",
        "  GET /v2/runs/{runId}",
        "  answer check",
        "  translate to phase1",
    ]
    server = next(s for s in spans if s["parent"] == CALLER_SPAN)
    assert server["kind"] == 2  # SERVER
    assert server["attributes"] == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "shimgw.operation": "getJob",
        "shimgw.arm": "stable",
        "shimgw.correlation_id": "req-42",
    }
    assert not any("/api/v1/jobs/1" in str(s["attributes"]) for s in spans)  # no raw path
    client = next(s for s in spans if s["kind"] == 3)  # CLIENT
    assert client["parent"] == server["span_id"]
    assert client["attributes"]["http.request.method"] == "GET"
    assert client["attributes"]["http.response.status_code"] == 200
    assert client["attributes"]["server.address"] == "127.0.0.1"
    assert client["attributes"]["shimgw.arm"] == "stable"
    # The orchestrator's parent is the client span, in the caller's trace.
    seen = next(s for s in reversed(store.seen) if s.operation == "getRun")
    assert seen.header("traceparent") == f"00-{CALLER_TRACE}-{client['span_id']}-01"
    assert seen.header("X-Correlation-ID") == "req-42"
    assert {"service.name": "shimgw-under-test"}.items() <= receiver.resources[0].items()
    assert receiver.content_types == {"application/x-protobuf"}


async def test_a_failed_call_is_a_server_span_in_error(
    receiver: Receiver,  # first: torn down after the gateway has flushed its spans
    make_gateway: GatewayFactory,
    store: RunStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shimgw.reference import Fault

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    # Config keys stand in when the environment says nothing.
    gateway = await make_gateway(tracing={"exporter": "otlp", "sample_ratio": 1.0})
    store.inject(Fault(operation="getRun", drop=True, times=-1))  # retried GETs too
    caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    answer = await gateway.call("GET", "/api/v1/jobs/1", headers={"traceparent": caller})
    assert answer.status == 502
    spans = await spans_of(receiver, CALLER_TRACE, 4)
    server = next(s for s in spans if s["parent"] == CALLER_SPAN)
    assert server["attributes"]["http.response.status_code"] == 502
    assert [s["name"] for s in spans if s["parent"] == server["span_id"]] == [
        "phase1 check",
        "translate to v2",
        "GET /v2/runs/{runId}",
    ]


async def test_by_default_nothing_is_recorded_and_context_still_propagates(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway()
    assert gateway.service.gateway.tracer is None
    caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    await gateway.call("GET", "/api/v1/jobs/1", headers={"traceparent": caller})
    parent = store.seen[-1].header("traceparent")
    assert parent is not None and parent.startswith(f"00-{CALLER_TRACE}-")
    assert CALLER_SPAN not in parent  # a hop of the gateway's own


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
    ],
)
def test_bad_otel_values_are_refused_by_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(TracingConfig(), environ)
    assert str(raised.value).startswith(f"{named}: ")


def test_the_environment_wins_over_the_config() -> None:
    config = TracingConfig(sample_ratio=0.5, exporter="otlp", endpoint="http://cfg:4318")
    assert settings(config, {}).endpoint == "http://cfg:4318/v1/traces"
    assert settings(config, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}).endpoint is None
    assert settings(config, {"OTEL_TRACES_EXPORTER": "none"}).export is False
    assert settings(config, {"OTEL_TRACES_SAMPLER": "always_off"}).sampler is None
    assert settings(TracingConfig(), {}).sampler is None  # the default: propagate only
    assert "0.5" in settings(config, {}).sampler.get_description()  # type: ignore[union-attr]
