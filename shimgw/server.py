"""The Phase 1 edge: the aiohttp server and the one handler every request goes through.

Theory of operation
-------------------
A request runs as two halves. `_serve` is the pipeline, one call into a
sans-IO module per step:

    snapshot → route → read body → Phase 1 check → (local operation: its answer)
    → pick upstream → (legacy arm: the call passes through, answer checked)
    → to_v2 → /v2 check → (shadow seed) → send → answer check (or memo)
    → to_phase1 → the Phase 1 answer checked against phase1.yaml

It returns an outcome — a `Phase1Response` or the `LocalAnswer` of an operation
the gateway answers itself — or raises a `GatewayError`; anything else is a bug
(`Crash`). On its way it notes in an `Exchange` what it learnt: the operation,
the upstream, how long the upstream took and whether that counts against it,
a contract violation. The steps from the call on (send, pass through, answer
check, translation, sent check) live in exchange.py.

`_finish` is the one place that turns an outcome into the HTTP response
(`exchange.respond`: the Phase 1 error body for errors, never a status the
operation does not promise, 502 for a bug: Phase 1 has no 500; then the
operation's lifecycle headers, if its translation has any) and that records
it: the upstream's health for the rollback windows, the metrics, the usage
counts (usage.py), the warning lines and the access line.
So every outcome is answered, counted and logged the same way, whichever step
produced it, and the pipeline reads like the list above.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from aiohttp import HttpVersion11, web
from opentelemetry import trace

from shimgw import observe, tracing
from shimgw.accesslog import AccessLog
from shimgw.deadline import Deadline
from shimgw.decoding import is_identity
from shimgw.errors import (
    AnnouncedBodyTooLarge,
    BadRequest,
    BodyTimeout,
    GatewayError,
    InternalError,
    PayloadTooLarge,
    RateLimited,
    UpstreamBusy,
    is_shutdown_cut,
)
from shimgw.exchange import (
    Crash,
    Exchange,
    Outcome,
    arm_url,
    busy_answer,
    cut_request,
    error_response,
    forward_legacy,
    note_busy,
    respond,
    send,
    translate,
    warn,
)
from shimgw.httpio import over_limit, read_capped
from shimgw.legacy_arm import Phase1Upstream
from shimgw.messages import (
    LocalAnswer,
    ParsedRequest,
    Phase1Response,
)
from shimgw.qos import RateLimiter
from shimgw.reply import Reply
from shimgw.routing.canary import key_digest
from shimgw.runtime import Runtime
from shimgw.shadow.runner import Seed, ShadowRunner, observed
from shimgw.snapshot import LocalOperation, Snapshot
from shimgw.translate.engine import answer_locally, to_phase1, to_v2

log = logging.getLogger("shimgw")
SHADOW_SEED = web.RequestKey("shadow_seed", Seed)  # set when this call is to be shadowed


async def _read_body(
    request: web.BaseRequest,
    limit: int,
    deadline_s: float,
    loop: asyncio.AbstractEventLoop | None,
) -> bytes:
    try:
        with Deadline(deadline_s, loop):  # asyncio.timeout's rules, cheaper per request
            return await _read_limited(request, limit)
    except PayloadTooLarge:
        raise
    except TimeoutError as exc:  # a body that stops half-way (timeouts.client_body)
        raise BodyTimeout(f"body: not received within {deadline_s:g} s") from exc
    except Exception as exc:  # a client that hangs up or sends a broken chunk
        raise BadRequest("body: could not be read") from exc


async def _read_limited(request: web.BaseRequest, limit: int) -> bytes:
    if not request.body_exists:
        return b""
    # aiohttp undoes a Content-Encoding as it reads, in bounded steps; the declared length
    # is then the compressed one, so the cap is counted on the decoded chunks instead.
    # Every line counts: aiohttp decodes by the last, `headers.get` reads the first.
    headers = request.headers
    encoded = "Content-Encoding" in headers and not all(
        is_identity(value) for value in headers.getall("Content-Encoding")
    )
    length = None if encoded else request.content_length
    if request.version == HttpVersion11 and headers.get("Expect", "").lower() == "100-continue":
        if length is not None and length > limit:
            # Refused by its declared length before the client sends it: the answer closes
            # the connection, the edge its own side first (edge.py `_close_first`), since a
            # client may send the body without waiting and must still read the refusal.
            raise AnnouncedBodyTooLarge(f"body: {over_limit(length, limit)}")
        # The client waits for this before it sends the body (only bodies we read get it).
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer proper has not started
    content = request.content
    if length is not None and length <= limit and content.is_eof():
        # The whole body came with the head (a small JSON body nearly always does): take
        # it from the buffer; `request.read()` would await twice to find the same bytes.
        return content.read_nowait()
    return await read_capped(
        content,
        length,
        limit,
        request.read,
        lambda length: PayloadTooLarge(f"body: {over_limit(length, limit)}"),
    )


class Gateway:
    """The handler and what it needs that outlives a snapshot (metrics, tracer, health)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.metrics = runtime.metrics
        self.shadow = ShadowRunner(runtime.metrics)
        # With nothing sampled there is nothing to record: the gateway then only
        # propagates context (its own span id, the caller's trace), which costs a
        # fraction of an SDK span per request (tracing.py).
        self.tracing = tracing.Tracing(tracing.settings(runtime.current.config.tracing, os.environ))
        self.tracer = self.tracing.tracer
        self._limiter: RateLimiter | None = None  # limits.per_client_rps, kept across reloads
        self.draining = False  # set by the shutdown: every answer then closes its connection
        self.access: AccessLog | None = None  # set by the service while it serves
        # The loop it serves on (build_server), so the hot path need not ask asyncio:
        # get_running_loop() is a getpid() system call per use on Python 3.11.
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.tracer is None:
            response = await self._handle(request, None)
        else:
            span = self.tracer.start_span(
                "phase1",
                context=observe.extract_context(request.headers),
                kind=trace.SpanKind.SERVER,
                record_exception=False,
                set_status_on_exception=False,
            )
            if not span.is_recording():
                # Not sampled: the span only names this hop in the traceparent sent on; it
                # is never made current (no context attach/detach per request).
                response = await self._handle(request, span)
            else:
                with trace.use_span(
                    span, end_on_exit=True, record_exception=False, set_status_on_exception=False
                ):
                    response = await self._handle(request, span)
        response.server = self.runtime.current.config.listen.server_header
        if self.draining:
            response.force_close()  # `Connection: close`: the client reconnects elsewhere
        seed = request.get(SHADOW_SEED)
        if seed is not None:
            await self._send_then_shadow(request, response, seed)
        return response.as_stream_response()

    async def _send_then_shadow(
        self, request: web.BaseRequest, response: Reply, seed: Seed
    ) -> None:
        """Write the client's answer first; only then hand the call to the shadow runner."""
        headers = response.headers
        answer = observed(
            response.status,
            headers.items(),
            headers.get("Content-Type"),
            response.body,
            seed.request_id,
        )
        try:
            await response.prepare(request)
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client left: nothing to compare with
            return
        self.shadow.offer(seed, answer)

    def _seed_shadow(
        self,
        request: web.BaseRequest,
        snapshot: Snapshot,
        ex: Exchange,
        parsed: ParsedRequest,
        body: bytes,
    ) -> None:
        """Keep what replaying this call needs, when a shadow rule picks it."""
        rule = self.shadow.pick(snapshot, ex.operation, request.headers, ex.upstream, ex.digest)
        if rule is None:
            return
        request[SHADOW_SEED] = Seed(
            snapshot=snapshot,
            operation=ex.operation,
            rule=rule,
            primary=ex.upstream,
            method=request.method,
            target=request.raw_path,
            headers=request.headers,
            body=body,
            parsed=parsed,
            request_id=ex.rid,
        )

    async def _handle(self, request: web.BaseRequest, span: trace.Span | None) -> Reply:
        snapshot = self.runtime.current  # read once: this request finishes on it
        rid = observe.request_id(request.headers.get("X-Request-ID"))
        ex = Exchange(
            rid=rid, method=request.method, path=request.path, started=time.perf_counter()
        )
        if span is not None and span.is_recording():
            ex.tracer = self.tracer
        else:  # not sampled: the steps would build spans that record nothing (~10 µs each)
            ex.tracer = None
        # The routing key, and its hash once for everything that matches on it: key_sha256
        # groups, the usage counts' named clients.
        ex.key = key = snapshot.picker.routing_key(request.headers, request.remote)
        if key is not None and snapshot.hashes_keys:
            ex.digest = key_digest(key)
        outcome: Outcome
        try:
            outcome = await self._serve(snapshot, request, span, ex)
        except GatewayError as error:
            outcome = error
        except asyncio.CancelledError as exc:
            if not is_shutdown_cut(exc):
                self._account(snapshot, ex, 0)  # the server is stopping: counted, not answered
                raise
            outcome = cut_request()  # past shutdown.grace_s outside a call: a plain 503
        except Exception as exc:
            outcome = Crash(exc)
        response = self._finish(snapshot, ex, outcome)
        if ex.tracer is not None and span is not None:
            tracing.describe_server(
                span, ex.method, ex.operation, ex.upstream, rid, response.status
            )
        return response

    # --- the pipeline ------------------------------------------------------------------

    async def _serve(
        self, snapshot: Snapshot, request: web.BaseRequest, span: trace.Span | None, ex: Exchange
    ) -> Phase1Response | LocalAnswer:
        headers = request.headers
        ex.operation, params = snapshot.routes.match(
            request.method, request.path, raw=request.raw_path
        )
        op = snapshot.operations[ex.operation]
        ex.promised = op.plan.promised
        rps = snapshot.config.limits.per_client_rps
        if rps and 429 in ex.promised:  # getStatus promises no 429: never limited
            self._admit(ex, request, rps)
        # An operation without a body ignores one (aiohttp drains or drops it), so a
        # stray body cannot earn a 400 that such an operation never promises.
        body = await self._read_body(request, snapshot) if op.request_check.body else b""
        with tracing.step(ex.tracer, "phase1 check"):
            parsed = op.request_check.parse(
                params, request.query, headers, request.content_type, body
            )
        if isinstance(op, LocalOperation):
            return answer_locally(op.plan, parsed)
        extra = {"X-Correlation-ID": ex.rid}
        observe.propagate_trace(span, headers, extra)
        arm = self.runtime.choose(snapshot, ex.operation, headers, ex.key, ex.digest)
        upstream = snapshot.upstreams[arm]
        if isinstance(upstream, Phase1Upstream):  # a legacy backend: the call passes through
            ex.upstream = arm
            if snapshot.cutover.rules:
                self._seed_shadow(request, snapshot, ex, parsed, body)
            call_extra = {"X-Request-ID": ex.rid, **extra}
            try:
                return await forward_legacy(snapshot, upstream, request, body, call_extra, ex)
            except UpstreamBusy as busy:  # as for an orchestrator: the operation's own 503
                note_busy(ex, busy)
                return to_phase1(op.plan, snapshot.errors, parsed, busy_answer(busy))
        with tracing.step(ex.tracer, "translate to v2"):
            call = to_v2(op.plan, parsed, extra)
            op.call_check.check(call)
        ex.upstream = arm
        if snapshot.cutover.rules:
            self._seed_shadow(request, snapshot, ex, parsed, body)
        try:
            answer = await send(upstream, call, ex, op.plan.path_template, arm_url(snapshot, arm))
        except UpstreamBusy as busy:
            # As if the orchestrator had said 503: each operation's own table decides.
            note_busy(ex, busy)
            return to_phase1(op.plan, snapshot.errors, parsed, busy_answer(busy))
        return translate(snapshot, op, parsed, answer, ex)

    def _admit(self, ex: Exchange, request: web.BaseRequest, rps: float) -> None:
        """`limits.per_client_rps`, keyed like the canary split (`routing.key`); a client
        without that key is keyed by its address."""
        limiter = self._limiter
        if limiter is None or limiter.rate != rps:
            limiter = self._limiter = RateLimiter(rps)
        key = ex.key
        wait = limiter.take(
            key if key is not None else f"address:{request.remote}", time.monotonic()
        )
        if wait:
            self.metrics.rate_limited.inc()
            raise RateLimited(
                f"rate limit of {rps:g} requests/s per client passed; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    async def _read_body(self, request: web.BaseRequest, snapshot: Snapshot) -> bytes:
        config = snapshot.config
        try:
            return await _read_body(
                request, config.limits.max_body_bytes, config.timeouts.client_body, self.loop
            )
        except BodyTimeout:
            self.metrics.client_timeouts.labels("body").inc()
            raise

    # --- the one place an outcome is answered and recorded ------------------------------

    def _finish(self, snapshot: Snapshot, ex: Exchange, outcome: Outcome) -> Reply:
        if ex.upstream_seconds is not None:
            self.runtime.record(ex.upstream, ex.upstream_seconds, failed=ex.upstream_failed)
        for kind in ex.upstream_errors:
            self.metrics.upstream_errors.labels(ex.upstream, kind).inc()
        if ex.sent_violation is not None:
            # Logged where it was found, with both sides' bodies (exchange.translate): counted here.
            self.metrics.violations.labels("phase1", ex.operation, "sent").inc()
        if ex.violation is not None:
            self.metrics.violations.labels(ex.contract, ex.operation, "received").inc()
            if outcome is not ex.violation:  # report mode: answered anyway, but said
                warn("contract violation (report mode)", ex, error=ex.violation.message)
        response = respond(ex, outcome)
        if response.unsafe():  # a control character would split a header: never sent
            warn("answer not sent: a header holds a control character", ex)
            response = error_response(InternalError("internal gateway error"), ex.rid)
        notice = snapshot.lifecycle.get(ex.operation)
        if notice is not None:  # the operation's Deprecation / Sunset / Link, on every answer
            response.replace_headers(notice)
        self._account(snapshot, ex, response.status)
        return response

    def _account(self, snapshot: Snapshot, ex: Exchange, status: int) -> None:
        elapsed = time.perf_counter() - ex.started
        self.metrics.observe_request(ex.operation, status, ex.upstream, elapsed)
        if snapshot.usage is not None:  # None only for a snapshot no runtime attached
            snapshot.usage.count(ex.operation, ex.digest, time.time())
        if snapshot.config.logging.access and self.access is not None:
            self.access.request(
                ex.rid, ex.method, ex.path, ex.operation, ex.upstream, status, elapsed
            )


def build_server(gateway: Gateway) -> web.Server:
    """aiohttp's low-level server, handing every request straight to the gateway.

    Our own route table decides 404/405, so aiohttp's Application, router and middleware
    stack would only add work per request (resolving a catch-all route, wrapping the
    handler); every request — `OPTIONS *`, a decoded %0A included — reaches
    `Gateway.handle`. The body limit is the snapshot's, enforced by the handler, so the
    request objects carry no limit of aiohttp's own.
    """
    loop = gateway.loop = asyncio.get_running_loop()

    def make_request(
        message: Any, payload: Any, protocol: Any, writer: Any, task: Any
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, loop, client_max_size=1 << 40
        )

    return web.Server(
        gateway.handle,
        request_factory=make_request,
        access_log=None,
        max_field_size=16384,
        max_line_size=16384,
        # After an answer to a request whose body was not read (refused, or timed out),
        # aiohttp drains the rest for at most this long, then closes.
        lingering_time=2.0,
    )
