"""Traces: propagate-only by default; sampled spans exported over OTLP/HTTP when asked.

Theory of operation
-------------------
By default the gateway records no span: it continues the caller's W3C trace context
to the orchestrator with a span id of its own (`observe.propagate_trace`), at the cost
of a few hundred nanoseconds. Spans are recorded when a sampler can say yes: the
standard `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`), else
`tracing.sample_ratio` > 0 (parent-based: a caller's sampled flag is followed).

They leave the process when `OTEL_TRACES_EXPORTER=otlp` (else `tracing.exporter: otlp`):
the OpenTelemetry OTLP/HTTP protobuf exporter behind a `BatchSpanProcessor`. Ending a
span only appends it to the processor's bounded queue; a thread of the SDK's own
exports in batches, so the event loop never waits on the collector (a full queue
drops spans, it never blocks). The exporter reads the standard
`OTEL_EXPORTER_OTLP_*` variables (endpoint, headers, timeout, compression) and the
processor `OTEL_BSP_*`; `tracing.endpoint` is used only when neither
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` nor `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` describe the resource (service.name
defaults to `shimgw`).

One request's tree: the server span (kind SERVER, continuing the caller's trace) with
children for the Phase 1 check, the translation to /v2, the /v2 call (kind CLIENT; its
span id is the `traceparent` parent the orchestrator receives), the answer check and
the translation back. Attributes name the Phase 1 operationId (never the raw path, which
carries ids), the arm, the correlation id and the statuses.

Settings are read once, at start (`settings` is pure and refuses bad values with one
line naming the variable or key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from shimgw.config import TracingConfig
from shimgw.errors import ConfigError
from shimgw.observe import inject_context

_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """What the environment and the config ask for. `sampler` None: record nothing."""

    sampler: Sampler | None
    export: bool
    endpoint: str | None  # None: the exporter reads OTEL_EXPORTER_OTLP_* itself


def settings(config: TracingConfig, environ: Mapping[str, str]) -> TraceSettings:
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or config.exporter
    if exporter not in ("otlp", "none"):
        raise ConfigError(
            "OTEL_TRACES_EXPORTER", f"expected otlp or none (OTLP/HTTP), got {exporter!r}"
        )
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(name)
        if protocol and protocol != "http/protobuf":
            raise ConfigError(name, f"only http/protobuf is built in, got {protocol!r}")
    env_endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    endpoint = None
    if not env_endpoint and config.endpoint:
        endpoint = config.endpoint.rstrip("/") + "/v1/traces"
    return TraceSettings(_sampler(config, environ), exporter == "otlp", endpoint)


def _sampler(config: TracingConfig, environ: Mapping[str, str]) -> Sampler | None:
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        ratio = config.sample_ratio
        return ParentBased(TraceIdRatioBased(ratio)) if ratio > 0 else None
    if name not in _SAMPLERS:
        raise ConfigError("OTEL_TRACES_SAMPLER", f"expected one of {', '.join(_SAMPLERS)}")
    raw = environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0")
    try:
        ratio = float(raw)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError("OTEL_TRACES_SAMPLER_ARG", f"expected 0 to 1, got {raw!r}")
    root: Sampler = {"always_on": ALWAYS_ON, "always_off": ALWAYS_OFF}.get(
        name.removeprefix("parentbased_"), TraceIdRatioBased(ratio)
    )
    if name.startswith("parentbased_"):
        return ParentBased(root)
    # A bare sampler that never says yes records nothing: propagate only.
    return None if name == "always_off" or (name == "traceidratio" and ratio == 0) else root


class Tracing:
    """The provider and tracer of one gateway (tests run many, each with its own)."""

    def __init__(self, chosen: TraceSettings) -> None:
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer | None = None
        if chosen.sampler is None:
            return
        self.provider = TracerProvider(sampler=chosen.sampler, resource=_resource())
        if chosen.export:
            # Imported only when asked for: the exporter pulls in protobuf and requests.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            exporter = OTLPSpanExporter(endpoint=chosen.endpoint)
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("shimgw")

    def shutdown(self) -> None:
        """Export what is queued (blocking: call it off the event loop)."""
        if self.provider is not None:
            self.provider.shutdown()


def _resource() -> Resource:
    from_env = OTELResourceDetector().detect()
    if SERVICE_NAME in from_env.attributes:
        return Resource.create()
    return Resource.create({SERVICE_NAME: "shimgw"})


# --- spans on the hot path ------------------------------------------------------------------

_OFF = contextlib.nullcontext()  # reusable: one shared object when nothing is recorded


def step(tracer: trace.Tracer | None, name: str) -> contextlib.AbstractContextManager[Any]:
    """A child span for one pipeline step, or nothing at all when spans are not recorded."""
    if tracer is None:
        return _OFF
    return tracer.start_as_current_span(name)


@contextlib.contextmanager
def client_span(
    tracer: trace.Tracer,
    *,
    method: str,
    template: str,
    url: str,
    arm: str,
    headers: dict[str, str],
) -> Iterator[trace.Span]:
    """The /v2 call's CLIENT span; its context replaces `traceparent` in `headers`, so
    the orchestrator's parent is this span (HTTP semantic-convention attributes)."""
    host, _, port = url.split("://", 1)[-1].partition(":")
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.template": template,
        "server.address": host,
        "shimgw.arm": arm,
    }
    if port.isdigit():
        attributes["server.port"] = int(port)
    with tracer.start_as_current_span(
        f"{method} {template}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        inject_context(span, headers)
        yield span


def describe_server(
    span: trace.Span, method: str, operation: str, arm: str, correlation_id: str, status: int
) -> None:
    """Name and attributes of the server span once the request is answered: the Phase 1
    operationId (the raw path carries ids: never recorded), the arm, the statuses."""
    span.update_name(f"{method} {operation}")
    span.set_attributes(
        {
            "http.request.method": method,
            "http.response.status_code": status,
            "shimgw.operation": operation,
            "shimgw.arm": arm,
            "shimgw.correlation_id": correlation_id,
        }
    )
    if status >= 500:  # a server span is in error for 5xx only (HTTP semantic conventions)
        span.set_status(trace.Status(trace.StatusCode.ERROR))
