"""Running shadow calls: after the client's answer is sent, ask a second arm and compare.

Theory of operation
-------------------
The handler asks `pick` whether a call is shadowed (its operation has a
rule, the client is in the rule's group, the rule's arm is not the one that
served, the sample says yes, the body is small enough). If so it keeps a
`Seed` — everything needed to replay the call, held in memory only until
the shadow call ends — and, once the client's answer has been written,
`after` hands the seed over with that answer. The client's answer never
waits for the shadow arm, and nothing the shadow does can change it.

`offer` is bounded: at most `shadowing.concurrency` shadow calls run, at
most `shadowing.queue` wait; anything beyond is dropped and counted
(`result="dropped"`), as is an answer larger than `shadowing.max_body_bytes`.
`close` cancels whatever runs or waits (shutdown never waits for shadows).

A shadow call asks the rule's arm the way a client's call would have been
served there: a legacy arm gets the call passed through; a /v2 arm gets it
translated, and its answer is checked and translated back, errors included,
so both sides are compared in the Phase 1 shape a client would have seen.
For the first `shadowing.noise_requests` calls of each (safe) operation the
primary arm is asked again as well, and the fields that differ between its
two answers are learned as noise (compare.py). A transport failure of the
shadow arm is counted as `error`; it never touches the rollback windows.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from shimgw.errors import (
    GatewayError,
    InternalError,
    UpstreamBusy,
    UpstreamContractViolation,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shimgw.exchange import lenient_decode
from shimgw.legacy_arm import Phase1Upstream, answer_headers, pass_through
from shimgw.messages import ParsedRequest, V2Response, error_document
from shimgw.observe import Metrics
from shimgw.shadow.book import DiffBook, DiffShare, Sample, Side, request_line
from shimgw.shadow.compare import NoiseModel, Observed, Result, Verdict, diff, judge
from shimgw.shadow.rules import SAFE_METHODS, ShadowRule
from shimgw.snapshot import ProxyOperation, Snapshot
from shimgw.translate.engine import to_phase1, to_v2

log = logging.getLogger("shimgw")


class ShadowFailed(Exception):
    """The shadow arm could not be asked (unreachable, too slow, busy, too big)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Seed:
    """A call to replay on the shadow arm (holds the client's key until the call ends)."""

    snapshot: Snapshot
    operation: str
    rule: ShadowRule
    primary: str
    method: str
    target: str  # raw path and query
    headers: Mapping[str, str]  # lower-case: what a pass-through needs
    body: bytes
    parsed: ParsedRequest
    request_id: str


_METRICS: weakref.WeakKeyDictionary[Metrics, tuple[Counter, Counter]] = weakref.WeakKeyDictionary()


def shadow_metrics(metrics: Metrics) -> tuple[Counter, Counter]:
    """The two shadow counters on `metrics`' registry (made once per registry)."""
    found = _METRICS.get(metrics)
    if found is None:
        found = _METRICS[metrics] = (
            Counter(
                "shimgw_shadow_comparisons",
                "Shadow calls by result (match, differ, noise-only, error, dropped).",
                ["operation", "result"],
                registry=metrics.registry,
            ),
            Counter(
                "shimgw_shadow_field_diffs",
                "Fields (contract pointers) found differing, noise and ignored ones left out.",
                ["operation", "pointer"],
                registry=metrics.registry,
            ),
        )
    return found


def observed(
    status: int, headers: Any, content_type: str | None, body: bytes, rid: str
) -> Observed:
    heads = {str(k).lower(): str(v) for k, v in headers}
    heads["x-request-id"] = rid
    return Observed(status=status, headers=heads, content_type=content_type, body=body)


def error_observed(error: GatewayError, rid: str, promised: frozenset[int]) -> Observed:
    """The Phase 1 error answer a client would have got for `error` (as `exchange.respond`
    makes it)."""
    if error.status not in promised:
        error = InternalError(error.message)
    body = error_document(error.status, error.message, rid)
    return observed(error.status, error.headers.items(), "application/json", body, rid)


class ShadowRunner:
    def __init__(self, metrics: Metrics) -> None:
        self.book = DiffBook()
        self.noise = NoiseModel()
        self._comparisons, self._fields = shadow_metrics(metrics)
        self._waiting: deque[tuple[Seed, Observed]] = deque()
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        self.version: str | None = None  # the snapshot the book and the noise speak for

    def noise_map(self) -> dict[str, frozenset[str]]:
        return {op: self.noise.noise_of(op) for op in self.noise.noisy}

    def share(self) -> DiffShare:
        """The book and learned noise as data (shares.py), with the version they are for."""
        return self.book.share(self.version, self.noise_map())

    def _follow(self, snapshot: Snapshot) -> None:
        """A new config or mapping starts a new book: earlier diffs and noise are stale."""
        if snapshot.version != self.version:
            self.book = DiffBook(snapshot.config.shadowing.samples)
            self.noise = NoiseModel()
            self.version = snapshot.version

    # --- deciding (on the request path: cheap, no I/O) ------------------------------------

    def pick(
        self,
        snapshot: Snapshot,
        operation: str,
        headers: Mapping[str, str],
        served_by: str,
        digest: str | None,
    ) -> ShadowRule | None:
        """A rule that picks this call, if any; `digest` is the request's `key_digest`
        (a `group` rule needs it for a `key_sha256` group)."""
        rules = snapshot.cutover.rules.get(operation)
        if not rules:
            return None
        group = None
        for rule in rules:
            if rule.to == served_by or random.random() >= rule.sample:
                continue
            if rule.group is not None:
                group = group or snapshot.picker.group_of(headers, digest)
                if group is None or group.name != rule.group:
                    continue
            return rule
        return None

    # --- after the client's answer --------------------------------------------------------

    def offer(self, seed: Seed, answer: Observed) -> None:
        self._follow(seed.snapshot)
        limits = seed.snapshot.config.shadowing
        too_big = max(len(answer.body), len(seed.body)) > limits.max_body_bytes
        if self._closed or too_big:
            self._count(seed.operation, Result.DROPPED)
        elif len(self._running) < limits.concurrency:
            self._start(seed, answer)
        elif len(self._waiting) < limits.queue:
            self._waiting.append((seed, answer))
        else:
            self._count(seed.operation, Result.DROPPED)

    def _start(self, seed: Seed, answer: Observed) -> None:
        task = asyncio.get_running_loop().create_task(self._run(seed, answer))
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._waiting and not self._closed:
            self._start(*self._waiting.popleft())

    @property
    def pending(self) -> int:
        return len(self._running) + len(self._waiting)

    async def close(self) -> None:
        """Shutdown: cancel every shadow call, running or waiting."""
        self._closed = True
        self._waiting.clear()
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # --- one comparison -------------------------------------------------------------------

    async def _run(self, seed: Seed, primary: Observed) -> None:
        try:
            shadow = await self.ask(seed, seed.rule.to)
            await self._learn_noise(seed, primary)
        except ShadowFailed as failed:
            self._count(seed.operation, Result.ERROR)
            log.info(
                "shadow call failed",
                extra={
                    "fields": {
                        "operation": seed.operation,
                        "arm": seed.rule.to,
                        "error": str(failed),
                    }
                },
            )
            return
        except Exception:  # a bug here must never reach a client: count it and say so
            self._count(seed.operation, Result.ERROR)
            log.exception(
                "shadow comparison failed", extra={"fields": {"operation": seed.operation}}
            )
            return
        table = seed.snapshot.cutover.pointers[seed.operation]
        verdict = judge(
            diff(table, primary, shadow),
            ignore=seed.rule.ignore,
            noise=self.noise.noise_of(seed.operation),
        )
        self._record(seed, verdict, primary, shadow)

    async def _learn_noise(self, seed: Seed, primary: Observed) -> None:
        limits = seed.snapshot.config.shadowing
        if (
            seed.method not in SAFE_METHODS  # never replay an unsafe call onto the primary
            or self.noise.samples(seed.operation) >= limits.noise_requests
        ):
            return
        again = await self.ask(seed, seed.primary)
        table = seed.snapshot.cutover.pointers[seed.operation]
        self.noise.learn(seed.operation, diff(table, primary, again))

    def _record(self, seed: Seed, verdict: Verdict, primary: Observed, shadow: Observed) -> None:
        self._follow(seed.snapshot)
        self._count(seed.operation, verdict.result)
        for pointer in verdict.drift:
            self._fields.labels(seed.operation, pointer).inc()
        sample = None
        if verdict.result is Result.DIFFER:
            headers = seed.snapshot.cutover.pointers[seed.operation].headers_for(primary.status)
            sample = Sample(
                operation=seed.operation,
                at=time.time(),
                request=request_line(seed.method, seed.target),
                request_id=seed.request_id,
                pointers=verdict.drift,
                noise=verdict.noise,
                primary=Side.of(seed.primary, primary, headers),
                shadow=Side.of(seed.rule.to, shadow, headers),
            )
        # The book counts too; `count` below is for what never reaches a verdict.
        self.book.record(seed.operation, verdict, sample)

    def _count(self, operation: str, result: Result) -> None:
        self._comparisons.labels(operation, result.value).inc()
        if result in (Result.ERROR, Result.DROPPED):
            self.book.count(operation, result)

    # --- asking one arm, in the Phase 1 shape ---------------------------------------------

    async def ask(self, seed: Seed, arm: str) -> Observed:
        upstream = seed.snapshot.upstreams.get(arm)
        if upstream is None:
            raise ShadowFailed(f"no upstream {arm}")
        try:
            if isinstance(upstream, Phase1Upstream):
                return await self._ask_legacy(seed, upstream)
            return await self._ask_v2(seed, upstream)
        except (UpstreamTimeout, UpstreamUnavailable, UpstreamBusy) as exc:
            raise ShadowFailed(exc.message) from exc

    async def _ask_legacy(self, seed: Seed, upstream: Phase1Upstream) -> Observed:
        rid = seed.request_id
        extra = {"X-Request-ID": rid, "X-Correlation-ID": rid}
        call = pass_through(seed.method, seed.target, seed.headers, seed.body, extra)
        answer: V2Response = await upstream.forward(call)
        self._check_size(seed, answer.body)
        check = seed.snapshot.cutover.answer_checks.get(seed.operation)
        if check is not None and seed.snapshot.config.validation.responses == "enforce":
            try:
                check.check(answer.status, answer.headers, answer.content_type, answer.body)
            except UpstreamContractViolation as exc:
                promised = seed.snapshot.operations[seed.operation].plan.promised
                return error_observed(exc, rid, promised)
        headers = answer_headers(answer.headers)
        ctype = answer.headers.get("content-type")
        return observed(answer.status, headers, ctype, answer.body, rid)

    async def _ask_v2(self, seed: Seed, upstream: Any) -> Observed:
        snapshot, rid = seed.snapshot, seed.request_id
        op = snapshot.operations[seed.operation]
        try:
            if not isinstance(op, ProxyOperation):
                raise InternalError(f"{seed.operation}: answered by the gateway, never shadowed")
            call = to_v2(op.plan, seed.parsed, {"X-Correlation-ID": rid})
            op.call_check.check(call)
            answer: V2Response = await upstream.send(call, call.headers)
            self._check_size(seed, answer.body)
            data = self._checked(snapshot, op.answer_check, answer)
            result = to_phase1(
                op.plan,
                snapshot.errors,
                seed.parsed,
                V2Response(
                    status=answer.status,
                    headers=answer.headers,
                    content_type=answer.content_type,
                    body=answer.body,
                    data=data,
                ),
            )
        except (UpstreamTimeout, UpstreamUnavailable, UpstreamBusy):
            raise
        except GatewayError as error:
            return error_observed(error, rid, op.plan.promised)
        return observed(result.status, result.headers, result.content_type, result.body, rid)

    @staticmethod
    def _checked(snapshot: Snapshot, check: Any, answer: V2Response) -> Any:
        mode = snapshot.config.validation.responses
        if mode != "off":
            try:
                return check.check(answer.status, answer.headers, answer.content_type, answer.body)
            except UpstreamContractViolation:
                if mode == "enforce":
                    raise
        return lenient_decode(answer)  # as the handler decodes it in these modes

    @staticmethod
    def _check_size(seed: Seed, body: bytes) -> None:
        if len(body) > seed.snapshot.config.shadowing.max_body_bytes:
            raise ShadowFailed("answer over shadowing.max_body_bytes")
