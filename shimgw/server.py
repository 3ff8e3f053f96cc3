"""The Phase 1 edge: the aiohttp app and the one handler every request goes through.

One request, start to end (each step is a call into a sans-IO module):
snapshot → route → Phase 1 check → to_v2 → /v2 check → pick upstream → send
→ answer check → to_phase1 → response with X-Request-ID. Every failure on the
way is a `GatewayError` and leaves as the Phase 1 error body; anything else is
a bug, logged with its traceback and answered 502 (Phase 1 has no 500).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiohttp import web
from opentelemetry import trace

from shimgw import observe
from shimgw.decoding import is_identity
from shimgw.errors import (
    BadRequest,
    GatewayError,
    InternalError,
    PayloadTooLarge,
    UpstreamBusy,
    UpstreamContractViolation,
    UpstreamError,
    UpstreamTimeout,
)
from shimgw.httpio import over_limit, read_capped
from shimgw.messages import ParsedRequest, Phase1Response, V2Request, V2Response
from shimgw.reload import Runtime
from shimgw.snapshot import Operation, Snapshot
from shimgw.translate.engine import to_phase1, to_v2
from shimgw.translate.transforms import ABSENT

log = logging.getLogger("shimgw")


async def _read_body(request: web.Request, limit: int) -> bytes:
    try:
        return await _read_limited(request, limit)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # a client that hangs up or sends a broken chunk
        raise BadRequest("body: could not be read") from exc


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if not request.body_exists:
        return b""
    # aiohttp undoes a Content-Encoding as it reads, in bounded steps; the declared length
    # is then the compressed one, so the cap is counted on the decoded chunks instead.
    encoded = not is_identity(request.headers.get("Content-Encoding"))
    return await read_capped(
        request.content,
        None if encoded else request.content_length,
        limit,
        request.read,
        lambda length: PayloadTooLarge(f"body: {over_limit(length, limit)}"),
    )


def error_response(error: GatewayError, rid: str) -> web.Response:
    body = orjson.dumps({"error": error.message, "code": error.status, "request_id": rid})
    headers = {**error.headers, "X-Request-ID": rid}
    return web.Response(
        status=error.status, body=body, content_type="application/json", headers=headers
    )


class Gateway:
    """The handler and what it needs that outlives a snapshot (metrics, tracer, health)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.metrics = runtime.metrics
        ratio = runtime.current.config.tracing.sample_ratio
        # With nothing sampled there is nothing to record: the gateway then only
        # propagates context (its own span id, the caller's trace), which costs a
        # fraction of an SDK span per request.
        self.tracer = observe.setup_tracing(ratio) if ratio > 0 else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.tracer is None:
            return await self._handle(request, None)
        with self.tracer.start_as_current_span(
            "phase1",
            context=observe.extract_context(request.headers),
            kind=trace.SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            return await self._handle(request, span)

    async def _handle(self, request: web.Request, span: trace.Span | None) -> web.StreamResponse:
        started = time.perf_counter()
        snapshot = self.runtime.current  # read once: this request finishes on it
        headers = request.headers
        rid = observe.request_id(headers.get("X-Request-ID"))
        op_id, upstream_name, status = "-", "-", 0
        try:
            op_id, params = snapshot.routes.match(request.method, request.path)
            op = snapshot.operations[op_id]
            # An operation without a body ignores one (aiohttp drains or drops it), so a
            # stray body cannot earn a 400 that such an operation never promises.
            body = (
                await _read_body(request, snapshot.config.limits.max_body_bytes)
                if op.request_check.body
                else b""
            )
            parsed = op.request_check.parse(
                params, request.query, headers, request.content_type, body
            )
            extra = {"X-Correlation-ID": rid}
            observe.propagate_trace(span, headers, extra)
            call = to_v2(op.plan, parsed, extra)  # a local operation raises its answer here
            if op.call_check is None or op.answer_check is None:
                raise InternalError(f"{op_id}: a local operation gave no answer")
            op.call_check.check(call)
            upstream_name = self.runtime.choose(snapshot, op_id, request)
            try:
                answer, elapsed = await self._send(snapshot, upstream_name, call)
            except UpstreamBusy as busy:
                # As if the orchestrator had said 503: each operation's own table decides.
                self.metrics.upstream_errors.labels(upstream_name, "busy").inc()
                return _respond(to_phase1(op.plan, snapshot.errors, parsed, busy_answer(busy)), rid)
            response = self._translate(snapshot, op, parsed, answer, upstream_name, rid, elapsed)
            status = response.status
            return response
        except GatewayError as raised:
            error = raised
            if op_id != "-" and error.status not in snapshot.operations[op_id].plan.promised:
                # A Phase 1 client is never sent a status its operation does not list.
                error = InternalError(error.message)
            status = error.status
            if isinstance(error, UpstreamError | UpstreamTimeout) or status >= 500:
                log.warning(
                    "upstream failure",
                    extra={
                        "fields": {
                            "request_id": rid,
                            "operation": op_id,
                            "upstream": upstream_name,
                            "status": status,
                            "error": error.message,
                        }
                    },
                )
            return error_response(error, rid)
        except Exception:
            status = 502
            log.exception(
                "internal error", extra={"fields": {"request_id": rid, "operation": op_id}}
            )
            return error_response(InternalError("internal gateway error"), rid)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(op_id, status, upstream_name, elapsed)
            if snapshot.config.logging.access:
                observe.access_log.info(
                    "request",
                    extra={
                        "fields": {
                            "request_id": rid,
                            "method": request.method,
                            "path": request.path,
                            "operation": op_id,
                            "upstream": upstream_name,
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                        }
                    },
                )

    async def _send(
        self, snapshot: Snapshot, name: str, call: V2Request
    ) -> tuple[V2Response, float]:
        """The answer and how long it took; a transport failure is recorded here, an
        answer once its contract check has said whether it counts as an error."""
        upstream = snapshot.upstreams[name]
        started = time.perf_counter()
        try:
            answer: V2Response = await upstream.send(call, call.headers)
        except UpstreamTimeout:
            self.runtime.record(name, time.perf_counter() - started, failed=True)
            self.metrics.upstream_errors.labels(name, "timeout").inc()
            raise
        except UpstreamError:
            self.runtime.record(name, time.perf_counter() - started, failed=True)
            self.metrics.upstream_errors.labels(name, "unreachable").inc()
            raise
        return answer, time.perf_counter() - started

    def _translate(
        self,
        snapshot: Snapshot,
        op: Operation,
        parsed: ParsedRequest,
        answer: V2Response,
        upstream_name: str,
        rid: str,
        elapsed: float,
    ) -> web.Response:
        mode = snapshot.config.validation.responses
        memo, key = op.answers, None
        if (
            memo is not None
            and mode == "enforce"
            and answer.body  # an empty answer (204) is cheap to translate: not worth a slot
            and parsed.body is ABSENT
            and op.answer_check
        ):
            key = (
                op.plan.operation,
                answer.status,
                answer.content_type,
                tuple(
                    answer.headers.get(h) for h in op.answer_check.declared_headers(answer.status)
                ),
                answer.body,
                tuple(parsed.query.items()),
                tuple(parsed.path.items()),
            )
            cached = memo.get(key)
            if cached is not None:  # the same bytes passed the same checks before
                self.runtime.record(upstream_name, elapsed, failed=answer.status >= 500)
                if answer.status >= 500:
                    self.metrics.upstream_errors.labels(upstream_name, "5xx").inc()
                return _respond(cached, rid)
        violation: UpstreamContractViolation | None = None
        data: Any
        if mode == "off" or op.answer_check is None:
            data = _lenient_decode(answer)
        else:
            try:
                data = op.answer_check.check(
                    answer.status, answer.headers, answer.content_type, answer.body
                )
            except UpstreamContractViolation as exc:
                violation, data = exc, _lenient_decode(answer)
        # One record per answer, for the rollback windows: 5xx and contract breaks are errors.
        self.runtime.record(
            upstream_name, elapsed, failed=answer.status >= 500 or violation is not None
        )
        if answer.status >= 500:
            self.metrics.upstream_errors.labels(upstream_name, "5xx").inc()
        if violation is not None:
            self.metrics.violations.labels("phase2", op.plan.operation).inc()
            self.metrics.upstream_errors.labels(upstream_name, "contract").inc()
            if mode == "enforce":
                raise violation
            log.warning(
                "contract violation (report mode)",
                extra={
                    "fields": {
                        "request_id": rid,
                        "operation": op.plan.operation,
                        "upstream": upstream_name,
                        "error": violation.message,
                    }
                },
            )
        answer = V2Response(answer.status, answer.headers, answer.content_type, answer.body, data)
        result = to_phase1(op.plan, snapshot.errors, parsed, answer)
        if key is not None and memo is not None and violation is None:
            cost = len(answer.body) + len(result.body) + sum(len(str(v)) for v in key[-2:])
            memo.put(key, result, cost)
        return _respond(result, rid)


def busy_answer(busy: UpstreamBusy) -> V2Response:
    """The /v2 503 the orchestrator would have given had it been asked (phase2.yaml's
    Problem), so a busy gateway answers exactly as each operation maps a 503."""
    data = {"type": "about:blank", "title": "Service Unavailable", "status": 503}
    data["detail"] = busy.message
    headers = {k.lower(): v for k, v in busy.headers.items()}
    return V2Response(503, headers, "application/problem+json", orjson.dumps(data), data)


def _respond(result: Phase1Response, rid: str) -> web.Response:
    headers = dict(result.headers)
    headers["X-Request-ID"] = rid
    response = web.Response(status=result.status, body=result.body or None, headers=headers)
    if result.content_type is not None:
        response.headers["Content-Type"] = result.content_type
    return response


def _lenient_decode(answer: V2Response) -> Any:
    """Best-effort body for `report`/`off` modes: JSON when it parses, else absent."""
    if not answer.body or "json" not in answer.content_type:
        return ABSENT
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return ABSENT


def build_app(gateway: Gateway) -> web.Application:
    # Our own route table decides 404/405, so aiohttp gets one catch-all route; the body
    # limit is enforced per snapshot by the handler, not by aiohttp.
    app = web.Application(
        client_max_size=1 << 40,
        handler_args={"max_field_size": 16384, "max_line_size": 16384},
        middlewares=[_everything_is_ours(gateway)],
    )
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    return app


def _everything_is_ours(gateway: Gateway) -> Any:
    # The catch-all route serves nearly every request (a failed route lookup makes aiohttp
    # build a 404 exception: costly per request). What it cannot match — a decoded %0A,
    # `OPTIONS *` — this middleware hands to the gateway too, so those get the Phase 1
    # body and X-Request-ID rather than aiohttp's plain-text 404.
    @web.middleware
    async def handle(request: web.Request, handler: Any) -> web.StreamResponse:
        return await gateway.handle(request)  # the route's handler or aiohttp's 404: ours

    return handle
