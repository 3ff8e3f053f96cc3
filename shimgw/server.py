"""The Phase 1 edge: the aiohttp app and the one handler every request goes through.

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
a contract violation.

`_finish` is the one place that turns an outcome into the HTTP response (the
Phase 1 error body for errors, never a status the operation does not promise,
502 for a bug: Phase 1 has no 500; the operation's lifecycle headers, if its
translation has any) and that records it: the upstream's health for the
rollback windows, the metrics, the usage counts (usage.py), the warning lines
and the access line.
So every outcome is answered, counted and logged the same way, whichever step
produced it, and the pipeline reads like the list above.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import HttpVersion11, web
from opentelemetry import trace

from shimgw import observe, tracing
from shimgw.accesslog import AccessLog
from shimgw.answer_cache import AnswerKey
from shimgw.deadline import Deadline
from shimgw.decoding import is_identity
from shimgw.errors import (
    AnnouncedBodyTooLarge,
    AnswerContractViolation,
    BadRequest,
    BodyTimeout,
    GatewayError,
    InternalError,
    PayloadTooLarge,
    RateLimited,
    ShuttingDown,
    TranslatedError,
    UpstreamBusy,
    UpstreamContractViolation,
    UpstreamError,
    UpstreamTimeout,
    is_shutdown_cut,
)
from shimgw.httpio import over_limit, read_capped
from shimgw.legacy_arm import Phase1Upstream, legacy_answer, pass_through
from shimgw.messages import (
    ABSENT,
    LocalAnswer,
    ParsedRequest,
    Phase1Response,
    V2Request,
    V2Response,
)
from shimgw.orchestrator import Upstream
from shimgw.qos import RateLimiter
from shimgw.reply import Reply
from shimgw.routing.canary import key_digest
from shimgw.runtime import Runtime
from shimgw.shadow.runner import Seed, ShadowRunner, observed
from shimgw.snapshot import LocalOperation, ProxyOperation, Snapshot
from shimgw.translate.engine import answer_locally, to_phase1, to_v2, translate_answer
from shimgw.wirecheck import check_sent, error_answer, excerpt

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


@dataclass(frozen=True, slots=True)
class Crash:
    """A bug: an exception that is not a `GatewayError`. Logged with its traceback, 502."""

    error: Exception


Outcome = Phase1Response | LocalAnswer | GatewayError | Crash


@dataclass(kw_only=True, slots=True)
class Exchange:
    """What one request learnt on its way, for `_finish` to answer and record."""

    rid: str
    method: str
    path: str
    started: float
    operation: str = "-"
    promised: frozenset[int] | None = None  # the operation's statuses, once it is known
    upstream: str = "-"
    upstream_seconds: float | None = None  # set when the upstream answered or failed
    upstream_failed: bool = False  # counts as an error in the rollback window
    upstream_errors: list[str] = field(default_factory=list)  # kinds for the error metric
    cut: bool = False  # cut by the shutdown (shutdown.grace_s): our stop, not the upstream's
    violation: UpstreamContractViolation | None = None
    contract: str = "phase2"  # which contract `violation` broke (phase1: a legacy answer)
    sent_violation: AnswerContractViolation | None = None  # our own answer broke phase1.yaml
    tracer: trace.Tracer | None = None  # set when spans are recorded: one per pipeline step
    # The routing key (`routing.key`) and its SHA-256 (`key_digest`, once per request when
    # key groups or named clients need it): never logged, kept out of the repr too.
    key: str | None = field(default=None, repr=False)
    digest: str | None = field(default=None, repr=False)


def error_response(error: GatewayError, rid: str) -> Reply:
    return _error_body(error.status, error.message, error.headers.items(), rid)


def _error_body(status: int, message: str, headers: Iterable[tuple[str, str]], rid: str) -> Reply:
    body = orjson.dumps({"error": message, "code": status, "request_id": rid})
    fields = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
    fields.append(("X-Request-ID", rid))
    return Reply(status, body, "application/json", fields)


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
            outcome = _cut()  # past shutdown.grace_s outside a call: a plain 503
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
        ex.operation, params = snapshot.routes.match(request.method, request.path)
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
                return await _pass_through(snapshot, upstream, request, body, call_extra, ex)
            except UpstreamBusy as busy:  # as for an orchestrator: the operation's own 503
                _note_busy(ex, busy)
                return to_phase1(op.plan, snapshot.errors, parsed, busy_answer(busy))
        with tracing.step(ex.tracer, "translate to v2"):
            call = to_v2(op.plan, parsed, extra)
            op.call_check.check(call)
        ex.upstream = arm
        if snapshot.cutover.rules:
            self._seed_shadow(request, snapshot, ex, parsed, body)
        try:
            answer = await _send(upstream, call, ex, op.plan.path_template, arm_url(snapshot, arm))
        except UpstreamBusy as busy:
            # As if the orchestrator had said 503: each operation's own table decides.
            _note_busy(ex, busy)
            return to_phase1(op.plan, snapshot.errors, parsed, busy_answer(busy))
        return _translate(snapshot, op, parsed, answer, ex)

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
            # Logged where it was found, with both sides' bodies (_translate): counted here.
            self.metrics.violations.labels("phase1", ex.operation, "sent").inc()
        if ex.violation is not None:
            self.metrics.violations.labels(ex.contract, ex.operation, "received").inc()
            if outcome is not ex.violation:  # report mode: answered anyway, but said
                _warn("contract violation (report mode)", ex, error=ex.violation.message)
        response = _respond(ex, outcome)
        if response.unsafe():  # a control character would split a header: never sent
            _warn("answer not sent: a header holds a control character", ex)
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


def _respond(ex: Exchange, outcome: Outcome) -> Reply:
    if isinstance(outcome, Phase1Response):
        return _phase1_response(outcome, ex.rid)
    if isinstance(outcome, LocalAnswer):
        return _error_body(outcome.status, outcome.message, outcome.headers, ex.rid)
    if isinstance(outcome, Crash):
        log.error(
            "internal error",
            exc_info=outcome.error,
            extra={"fields": {"request_id": ex.rid, "operation": ex.operation}},
        )
        return error_response(InternalError("internal gateway error"), ex.rid)
    error = outcome
    if ex.promised is not None and error.status not in ex.promised:
        # A Phase 1 client is never sent a status its operation does not list.
        error = InternalError(error.message)
    if isinstance(error, AnswerContractViolation | ShuttingDown) or ex.cut:
        pass  # our own answer: logged with both sides where found; our own stop: expected
    elif isinstance(error, UpstreamError | UpstreamTimeout) or error.status >= 500:
        _warn("upstream failure", ex, status=error.status, error=error.message)
    reply = error_response(error, ex.rid)
    if isinstance(outcome, AnnouncedBodyTooLarge):
        reply.force_close()
    return reply


def _note_busy(ex: Exchange, busy: UpstreamBusy) -> None:
    # The gateway's own stop is not the upstream's failure, though the operation's table
    # may answer it as one (a TranslatedError 503): neither counted nor logged as such.
    if isinstance(busy, ShuttingDown):
        ex.cut = True
    else:
        ex.upstream_errors.append("busy")


def _cut() -> ShuttingDown:
    """The request the edge cancelled when `shutdown.grace_s` ran out (edge.py): the
    cancellation is taken back, so its answer can still be written."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    return ShuttingDown()


def _warn(message: str, ex: Exchange, **fields: Any) -> None:
    context = {"request_id": ex.rid, "operation": ex.operation, "upstream": ex.upstream}
    log.warning(message, extra={"fields": {**context, **fields}})


def arm_url(snapshot: Snapshot, arm: str) -> str:
    return snapshot.config.upstreams[arm].url


async def _send(
    upstream: Upstream, call: V2Request, ex: Exchange, template: str, url: str
) -> V2Response:
    """The raw answer; a transport failure is noted against the upstream here, an answer
    once its contract check has said whether it counts as an error."""
    if ex.tracer is None:
        return await _send_timed(upstream, call, call.headers, ex)
    headers = dict(call.headers)
    with tracing.client_span(
        ex.tracer, method=call.method, template=template, url=url, arm=ex.upstream, headers=headers
    ) as span:
        answer = await _send_timed(upstream, call, headers, ex)
        span.set_attribute("http.response.status_code", answer.status)
        return answer


async def _send_timed(
    upstream: Upstream, call: V2Request, headers: Mapping[str, str], ex: Exchange
) -> V2Response:
    started = time.perf_counter()
    try:
        answer = await upstream.send(call, headers)
    except asyncio.CancelledError as exc:
        if is_shutdown_cut(exc):
            raise _cut() from None
        raise
    except (UpstreamTimeout, UpstreamError) as failure:
        ex.upstream_seconds, ex.upstream_failed = time.perf_counter() - started, True
        kind = "timeout" if isinstance(failure, UpstreamTimeout) else "unreachable"
        ex.upstream_errors.append(kind)
        raise
    ex.upstream_seconds = time.perf_counter() - started
    return answer


async def _pass_through(
    snapshot: Snapshot,
    upstream: Phase1Upstream,
    request: web.BaseRequest,
    body: bytes,
    extra: dict[str, str],
    ex: Exchange,
) -> Phase1Response:
    """The legacy arm: the call as it came, the answer as it is once phase1.yaml passed it
    (legacy_arm.py); noted against the upstream like an orchestrator's answer."""
    call = pass_through(request.method, request.raw_path, request.headers, body, extra)
    started = time.perf_counter()
    try:
        answer = await upstream.forward(call)
    except asyncio.CancelledError as exc:
        if is_shutdown_cut(exc):
            raise _cut() from None
        raise
    except (UpstreamTimeout, UpstreamError) as failure:
        ex.upstream_seconds, ex.upstream_failed = time.perf_counter() - started, True
        ex.upstream_errors.append(
            "timeout" if isinstance(failure, UpstreamTimeout) else "unreachable"
        )
        raise
    ex.upstream_seconds = time.perf_counter() - started
    if answer.status >= 500:
        ex.upstream_failed = True
        ex.upstream_errors.append("5xx")
    result, violation = legacy_answer(snapshot, ex.operation, answer)
    if violation is not None:
        ex.upstream_failed, ex.violation, ex.contract = True, violation, "phase1"
        ex.upstream_errors.append("contract")
        if snapshot.config.validation.responses == "enforce":
            raise violation
    return result


def _translate(
    snapshot: Snapshot, op: ProxyOperation, parsed: ParsedRequest, answer: V2Response, ex: Exchange
) -> Phase1Response:
    """Check the answer (or find it in the memo) and translate it; 5xx and contract
    breaks count against the upstream."""
    mode = snapshot.config.validation.responses
    if answer.status >= 500:
        ex.upstream_failed = True
        ex.upstream_errors.append("5xx")
    memo, key = op.answers, _memo_key(mode, op, parsed, answer)
    if memo is not None and key is not None:
        cached = memo.get(key)
        if cached is not None:  # the same bytes passed the same checks before
            return cached
    data: Any
    if mode == "off":
        data = _lenient_decode(answer)
    else:
        try:
            with tracing.step(ex.tracer, "answer check"):
                data = op.answer_check.check(
                    answer.status, answer.headers, answer.content_type, answer.body
                )
        except UpstreamContractViolation as violation:
            ex.upstream_failed, ex.violation = True, violation
            ex.upstream_errors.append("contract")
            if mode == "enforce":
                raise
            data = _lenient_decode(answer)
    checked = V2Response(
        status=answer.status,
        headers=answer.headers,
        content_type=answer.content_type,
        body=answer.body,
        data=data,
    )
    try:
        with tracing.step(ex.tracer, "translate to phase1"):
            result, encoded_from = translate_answer(op.plan, snapshot.errors, parsed, checked)
    except TranslatedError as error:  # a /v2 error through the status table: its answer too
        if op.reply_check is not None and mode != "off":
            promised = op.plan.promised
            sent = error_answer(error.status, error.message, error.headers, ex.rid, promised)
            _check_sent(op, sent, answer, ex, mode)
        raise
    if (
        op.reply_check is not None
        and mode != "off"
        and not _check_sent(op, result, answer, ex, mode, encoded_from)
    ):
        return result  # report mode: passed on, but not memoised
    if memo is not None and key is not None and ex.violation is None:
        memo.put(key, result, key.cost(result))
    return result


def _check_sent(
    op: ProxyOperation,
    sent: Phase1Response,
    answer: V2Response,
    ex: Exchange,
    mode: str,
    encoded_from: Any = ABSENT,
) -> bool:
    """Whether `sent` keeps phase1.yaml; a break is logged with both sides' bodies (bounded;
    credentials travel in headers, which are never logged) and raised in enforce mode.
    `encoded_from`: the value `sent.body` was written from, when proven safe to check as is."""
    assert op.reply_check is not None
    try:
        check_sent(op.reply_check, sent, ex.rid, encoded_from)
    except AnswerContractViolation as violation:
        ex.sent_violation = violation
        _warn(
            "phase1 contract violation (sent)",
            ex,
            error=violation.message,
            phase1_answer=excerpt(sent.body),
            v2_answer=excerpt(answer.body),
        )
        if mode == "enforce":
            raise
        return False
    return True


def _memo_key(
    mode: str, op: ProxyOperation, parsed: ParsedRequest, answer: V2Response
) -> AnswerKey | None:
    if (
        op.answers is None
        or mode != "enforce"
        or not answer.body  # an empty answer (204) is cheap to translate: not worth a slot
        or parsed.body is not ABSENT
    ):
        return None
    return AnswerKey.of(answer, op.answer_check.declared_headers(answer.status), parsed)


def busy_answer(busy: UpstreamBusy) -> V2Response:
    """The /v2 503 the orchestrator would have given had it been asked (phase2.yaml's
    Problem), so a busy gateway answers exactly as each operation maps a 503."""
    data = {"type": "about:blank", "title": "Service Unavailable", "status": 503}
    data["detail"] = busy.message
    headers = {k.lower(): v for k, v in busy.headers.items()}
    return V2Response(
        status=503,
        headers=headers,
        content_type="application/problem+json",
        body=orjson.dumps(data),
        data=data,
    )


def _phase1_response(result: Phase1Response, rid: str) -> Reply:
    # A translated answer never names X-Request-ID itself (the edge owns it).
    headers = [*result.headers, ("X-Request-ID", rid)]
    return Reply(result.status, result.body, result.content_type, headers)


def _lenient_decode(answer: V2Response) -> Any:
    """Best-effort body for `report`/`off` modes: JSON when it parses, else absent."""
    if not answer.body or "json" not in answer.content_type:
        return ABSENT
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return ABSENT


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
