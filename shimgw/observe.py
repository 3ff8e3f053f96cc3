"""Correlation ids, trace context, metrics and log lines.

Secrets never reach a log: nothing here is ever handed a header mapping to
print, and log records carry only the fields named below.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = logging.getLogger("shimgw")
access_log = logging.getLogger("shimgw.access")


def request_id(supplied: str | None) -> str:
    """The client's `X-Request-ID` when it is valid, else a fresh one."""
    if supplied is not None and REQUEST_ID.match(supplied):
        return supplied
    return os.urandom(16).hex()


# --- tracing ------------------------------------------------------------------------------

_tracer: trace.Tracer | None = None


def setup_tracing(sample_ratio: float) -> trace.Tracer:
    """An SDK tracer, so spans have real ids even when not sampled (and not exported)."""
    global _tracer
    if _tracer is None:
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
        _tracer = provider.get_tracer("shimgw")
    return _tracer


def extract_context(headers: Mapping[str, str]) -> Context | None:
    if "traceparent" not in headers:
        return None
    return propagate.extract(headers)


def inject_context(span: trace.Span, carrier: MutableMapping[str, str]) -> None:
    """Write `traceparent` (and `tracestate`) for the span through OpenTelemetry's propagator."""
    propagate.inject(carrier, context=trace.set_span_in_context(span))


# --- metrics ------------------------------------------------------------------------------


class Metrics:
    """The gateway's Prometheus metrics, on a registry of its own (tests make many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "shimgw_requests",
            "Phase 1 requests answered.",
            ["operation", "status", "upstream"],
            registry=r,
        )
        self.duration = Histogram(
            "shimgw_request_duration_seconds",
            "Time from request to answer.",
            ["operation"],
            registry=r,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10),
        )
        self.upstream_errors = Counter(
            "shimgw_upstream_errors",
            "Upstream failures by kind (5xx, timeout, unreachable, contract).",
            ["upstream", "kind"],
            registry=r,
        )
        self.violations = Counter(
            "shimgw_contract_violations",
            "Contract violations seen, by side.",
            ["contract", "operation"],
            registry=r,
        )
        self.reloads = Counter(
            "shimgw_reloads", "Config reloads by result.", ["result"], registry=r
        )
        self.weight = Gauge(
            "shimgw_upstream_effective_weight",
            "Weight in force per upstream.",
            ["upstream"],
            registry=r,
        )
        self.rolled_back = Gauge(
            "shimgw_upstream_rolled_back",
            "1 while an automatic rollback holds the upstream at weight 0.",
            ["upstream"],
            registry=r,
        )
        self.rollbacks = Counter(
            "shimgw_rollbacks", "Automatic rollbacks triggered.", ["upstream", "reason"], registry=r
        )


# --- logs ---------------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("shimgw")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
