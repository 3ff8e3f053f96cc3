"""The fast path of trace propagation writes what OpenTelemetry's W3C propagator reads."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shimgw.observe import propagate_trace


def test_a_new_trace_is_a_valid_w3c_traceparent_with_fresh_ids() -> None:
    seen = set()
    for _ in range(50):
        carrier: dict[str, str] = {}
        propagate_trace(None, {}, carrier)
        assert list(carrier) == ["traceparent"]
        context = TraceContextTextMapPropagator().extract(carrier)
        parent = trace.get_current_span(context).get_span_context()
        assert parent.is_valid and parent.is_remote
        assert parent.trace_flags == 0 and not parent.trace_state
        version, trace_id, span_id, flags = carrier["traceparent"].split("-")
        assert (version, flags, len(trace_id), len(span_id)) == ("00", "00", 32, 16)
        seen.add((parent.trace_id, parent.span_id))
    assert len(seen) == 50


def test_a_callers_trace_is_continued_with_a_new_span() -> None:
    incoming = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    carrier: dict[str, str] = {}
    propagate_trace(None, incoming, carrier)
    _, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert trace_id == "0af7651916cd43dd8448eb211c80319c" and flags == "01"
    assert span_id != "b7ad6b7169203331"
