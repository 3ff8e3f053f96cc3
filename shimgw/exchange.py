"""One request's way through the upstream and back, for the handler (server.py).

Theory of operation
-------------------
`Gateway._serve` (server.py) is the pipeline; this module holds what it calls once a
request has its operation, and what `Gateway._finish` uses to answer it:

- `Exchange`: what one request learnt on its way (operation, upstream, time, whether
  that counts against the upstream, contract violations), read by `_finish`.
- The call: `send` to an orchestrator (timed, with a client span when traced) and
  `forward_legacy` to a Phase 1 backend; both note a transport failure against the
  upstream, and turn the shutdown's cut (`shutdown.grace_s`, edge.py) into the busy
  answer each operation maps.
- The answer: `translate` checks it against phase2.yaml (or finds it in the memo),
  translates it and holds the result to phase1.yaml before it is sent (wirecheck.py).
- `respond`: the one place an outcome becomes a `Reply`: the Phase 1 error body for
  errors, never a status the operation does not promise, 502 for a bug.

Nothing here reads the aiohttp request except `forward_legacy`, which passes it on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from opentelemetry import trace

from shimgw import jsoncodec, tracing
from shimgw.answer_cache import AnswerKey
from shimgw.errors import (
    AnnouncedBodyTooLarge,
    AnswerContractViolation,
    GatewayError,
    InternalError,
    ShuttingDown,
    TranslatedError,
    UpstreamBusy,
    UpstreamContractViolation,
    UpstreamError,
    UpstreamTimeout,
    is_shutdown_cut,
)
from shimgw.legacy_arm import Phase1Upstream, legacy_answer, pass_through
from shimgw.messages import (
    ABSENT,
    LocalAnswer,
    ParsedRequest,
    Phase1Response,
    V2Request,
    V2Response,
    error_document,
)
from shimgw.orchestrator import Upstream
from shimgw.reply import Reply
from shimgw.snapshot import ProxyOperation, Snapshot
from shimgw.translate.engine import translate_answer
from shimgw.wirecheck import check_sent, error_answer, excerpt

log = logging.getLogger("shimgw")
_T = TypeVar("_T")


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
    return error_body(error.status, error.message, error.headers.items(), rid)


def error_body(status: int, message: str, headers: Iterable[tuple[str, str]], rid: str) -> Reply:
    body = error_document(status, message, rid)
    fields = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
    fields.append(("X-Request-ID", rid))
    return Reply(status, body, "application/json", fields)


def respond(ex: Exchange, outcome: Outcome) -> Reply:
    if isinstance(outcome, Phase1Response):
        return phase1_reply(outcome, ex.rid)
    if isinstance(outcome, LocalAnswer):
        return error_body(outcome.status, outcome.message, outcome.headers, ex.rid)
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
        warn("upstream failure", ex, status=error.status, error=error.message)
    reply = error_response(error, ex.rid)
    if isinstance(outcome, AnnouncedBodyTooLarge):
        reply.force_close()
    return reply


def note_busy(ex: Exchange, busy: UpstreamBusy) -> None:
    # The gateway's own stop is not the upstream's failure, though the operation's table
    # may answer it as one (a TranslatedError 503): neither counted nor logged as such.
    if isinstance(busy, ShuttingDown):
        ex.cut = True
    else:
        ex.upstream_errors.append("busy")


def cut_request() -> ShuttingDown:
    """The request the edge cancelled when `shutdown.grace_s` ran out (edge.py): the
    cancellation is taken back, so its answer can still be written."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    return ShuttingDown()


def warn(message: str, ex: Exchange, **fields: Any) -> None:
    context = {"request_id": ex.rid, "operation": ex.operation, "upstream": ex.upstream}
    log.warning(message, extra={"fields": {**context, **fields}})


def arm_url(snapshot: Snapshot, arm: str) -> str:
    return snapshot.config.upstreams[arm].url


async def send(
    upstream: Upstream, call: V2Request, ex: Exchange, template: str, url: str
) -> V2Response:
    """The raw answer; a transport failure is noted against the upstream here, an answer
    once its contract check has said whether it counts as an error."""
    if ex.tracer is None:
        return await _timed(upstream.send(call, call.headers), ex)
    headers = dict(call.headers)
    with tracing.client_span(
        ex.tracer, method=call.method, template=template, url=url, arm=ex.upstream, headers=headers
    ) as span:
        answer = await _timed(upstream.send(call, headers), ex)
        span.set_attribute("http.response.status_code", answer.status)
        return answer


async def _timed(call: Awaitable[_T], ex: Exchange) -> _T:
    """The upstream call, timed, for both arms: a transport failure is noted against the
    upstream, the shutdown's cut becomes `ShuttingDown` (the busy answer), not a failure."""
    started = time.perf_counter()
    try:
        answer = await call
    except asyncio.CancelledError as exc:
        if is_shutdown_cut(exc):
            raise cut_request() from None
        raise
    except (UpstreamTimeout, UpstreamError) as failure:
        ex.upstream_seconds, ex.upstream_failed = time.perf_counter() - started, True
        kind = "timeout" if isinstance(failure, UpstreamTimeout) else "unreachable"
        ex.upstream_errors.append(kind)
        raise
    ex.upstream_seconds = time.perf_counter() - started
    return answer


async def forward_legacy(
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
    answer = await _timed(upstream.forward(call), ex)
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


def translate(
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
        data = lenient_decode(answer)
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
            data = lenient_decode(answer)
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
        warn(
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


def phase1_reply(result: Phase1Response, rid: str) -> Reply:
    # A translated answer never names X-Request-ID itself (the edge owns it).
    headers = [*result.headers, ("X-Request-ID", rid)]
    return Reply(result.status, result.body, result.content_type, headers)


def lenient_decode(answer: V2Response) -> Any:
    """Best-effort body for `report`/`off` modes (the shadow runner's too): JSON when it
    parses, exact for big integers as the checked path is, else absent."""
    if not answer.body or "json" not in answer.content_type:
        return ABSENT
    try:
        return jsoncodec.loads(answer.body)
    except ValueError:
        return ABSENT
