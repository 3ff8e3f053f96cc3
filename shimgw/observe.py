"""Correlation ids, trace context, metrics and log lines.

Secrets never reach a log: nothing here is ever handed a header mapping to
print, and log records carry only the fields named below.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from shimgw.shadow.book import redact_text

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")  # \Z: no trailing newline

log = logging.getLogger("shimgw")
access_log = logging.getLogger("shimgw.access")


def request_id(supplied: str | None) -> str:
    """The client's `X-Request-ID` when it is valid, else a fresh one."""
    if supplied is not None and REQUEST_ID.match(supplied):
        return supplied
    # Unique, not secret: Mersenne Twister bits, without a urandom syscall per request.
    return f"{random.getrandbits(128):032x}"


# --- tracing ------------------------------------------------------------------------------

_PROPAGATOR = TraceContextTextMapPropagator()
_IDS = RandomIdGenerator()


def extract_context(headers: Mapping[str, str]) -> Context | None:
    if "traceparent" not in headers:
        return None
    return _PROPAGATOR.extract(headers)


def propagate_trace(
    span: trace.Span | None, incoming: Mapping[str, str], carrier: MutableMapping[str, str]
) -> None:
    """Write `traceparent` (and `tracestate`) for the upstream call via OpenTelemetry's
    W3C propagator: the recording span's context when tracing samples, else a hop of
    our own (new span id) in the caller's trace, or a new trace when there is none."""
    if span is None and "traceparent" not in incoming:
        # A new trace, written as the W3C propagator would (no state, not sampled) without
        # building a span, a context and a setter per request.
        trace_id, span_id = _IDS.generate_trace_id(), _IDS.generate_span_id()
        carrier["traceparent"] = f"00-{trace_id:032x}-{span_id:016x}-00"
        return
    if span is None:
        parent = trace.get_current_span(extract_context(incoming)).get_span_context()
        if parent.is_valid:
            trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
        else:
            trace_id, flags, state = _IDS.generate_trace_id(), TraceFlags(0), None
        span = trace.NonRecordingSpan(
            trace.SpanContext(trace_id, _IDS.generate_span_id(), False, flags, state)
        )
    inject_context(span, carrier)


def inject_context(span: trace.Span, carrier: MutableMapping[str, str]) -> None:
    """`traceparent` (and `tracestate`) naming `span` as the parent, written into `carrier`."""
    if span.is_recording():
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        return
    # Not recorded: written as the W3C propagator would, without a context and a setter.
    ctx = span.get_span_context()
    carrier["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    if ctx.trace_state:
        carrier["tracestate"] = ctx.trace_state.to_header()


# --- metrics ------------------------------------------------------------------------------


class Metrics:
    """The gateway's Prometheus metrics, on a registry of its own (tests make many)."""

    # Over 50 lines on purpose: a flat table, one declaration per metric, so every name an
    # operator or a dashboard queries is found in one place.
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
            ["operation", "upstream"],
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
            "Contract violations by contract, operation and direction (received: an upstream's "
            "answer broke it; sent: the gateway's own Phase 1 answer would have).",
            ["contract", "operation", "direction"],
            registry=r,
        )
        self.reloads = Counter(
            "shimgw_reloads", "Config reloads by result.", ["result"], registry=r
        )
        # Under --workers each worker writes its own value; the highest is the one to show.
        gauge_mode: dict[str, Any] = {"multiprocess_mode": "max"}
        self.weight = Gauge(
            "shimgw_upstream_effective_weight",
            "Weight in force per upstream.",
            ["upstream"],
            registry=r,
            **gauge_mode,
        )
        self.configured_weight = Gauge(
            "shimgw_upstream_configured_weight",
            "Weight the config gives each upstream (before rollbacks).",
            ["upstream"],
            registry=r,
            **gauge_mode,
        )
        # The last probe's word wins, whichever worker wrote it.
        self.upstream_up = Gauge(
            "shimgw_upstream_up",
            "1 when the upstream's last /v2/health probe answered 200, else 0.",
            ["upstream"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.reload_ok = Gauge(
            "shimgw_config_last_reload_successful",
            "1 when the last reload attempt was applied (or there was none yet), 0 when refused.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.reload_ok.set(1)
        self.rolled_back = Gauge(
            "shimgw_upstream_rolled_back",
            "1 while an automatic rollback holds the upstream at weight 0.",
            ["upstream"],
            registry=r,
            **gauge_mode,
        )
        self.log_lines_dropped = Counter(
            "shimgw_log_lines_dropped",
            "Access log lines dropped because stderr did not keep up (requests are not held).",
            registry=r,
        )
        # Who still calls Phase 1 (usage.py): `client` is a name from `clients` or
        # `unnamed`, `operation` an operationId or `unmatched`; both sets are bounded.
        self.phase1_requests = Counter(
            "shimgw_phase1_requests",
            "Phase 1 requests by operation (unmatched: no route) and client (a configured "
            "name, else unnamed).",
            ["operation", "client"],
            registry=r,
        )
        self._request_children: dict[tuple[str, int, str], Any] = {}
        self._duration_children: dict[tuple[str, str], Any] = {}
        self.rollbacks = Counter(
            "shimgw_rollbacks", "Automatic rollbacks triggered.", ["upstream", "reason"], registry=r
        )
        # The Phase 1 edge (edge.py): connections refused, cut off, or not HTTP at all.
        self.client_refused = Counter(
            "shimgw_client_connections_refused",
            "Phase 1 connections refused at limits.max_connections.",
            registry=r,
        )
        self.client_timeouts = Counter(
            "shimgw_client_timeouts",
            "Phase 1 clients cut off by timeouts.client_header / client_body.",
            ["phase"],
            registry=r,
        )
        self.client_malformed = Counter(
            "shimgw_client_malformed_requests",
            "Phase 1 requests the HTTP parser refused, by kind.",
            ["kind"],
            registry=r,
        )
        self.rate_limited = Counter(
            "shimgw_rate_limited",
            "Phase 1 requests refused by limits.per_client_rps.",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text format; under --workers, summed over every worker's files."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))

    def observe_request(self, operation: str, status: int, upstream: str, seconds: float) -> None:
        # labels() takes a lock and builds a key per call; the children are cached instead.
        key = (operation, status, upstream)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(
                operation, str(status), upstream
            )
        counter.inc()
        arm = (operation, upstream)
        histogram = self._duration_children.get(arm)
        if histogram is None:
            histogram = self._duration_children[arm] = self.duration.labels(operation, upstream)
        histogram.observe(seconds)


# --- logs ---------------------------------------------------------------------------------


# Cheap pre-test before redact_text's three expressions: most lines have none of these.
_MAY_HOLD_SECRET = re.compile(r"(?i)://|[?&][^=&\s]*=|bearer|basic")


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
        # A message or field may quote what an upstream or client sent (a validator names
        # the offending value): URL credentials and bearer tokens in it are cut out.
        for name, value in entry.items():
            if isinstance(value, str) and _MAY_HOLD_SECRET.search(value):
                entry[name] = redact_text(value)
        if record.exc_info:
            if record.name.startswith("shimgw"):
                entry["exc"] = self.formatException(record.exc_info)
            else:
                # A library's traceback may quote what a client or upstream sent (header
                # bytes, tokens): only the kind of error is kept.
                entry["exc_type"] = getattr(record.exc_info[0], "__name__", "unknown")
        if isinstance(entry.get("exc"), str):
            entry["exc"] = redact_text(entry["exc"])
        return orjson.dumps(entry).decode()


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("shimgw")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # What aiohttp and asyncio report goes out as the same JSON lines (never Python's
    # plain-text last-resort output), warnings and worse only.
    for name in ("aiohttp", "asyncio"):
        foreign = logging.getLogger(name)
        foreign.handlers[:] = [handler]
        foreign.setLevel(max(logging.WARNING, root.level))
        foreign.propagate = False
