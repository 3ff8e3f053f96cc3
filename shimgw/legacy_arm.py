"""The legacy arm: an upstream that speaks Phase 1 itself, to which calls pass through.

During a cutover some clients are still served by the legacy Phase 1 backend
(`upstreams.<name>.protocol: phase1`). A call routed there is not translated:
method, raw path and query, body, the client's `X-Api-Key` and `Accept` and
`Content-Type`, and the correlation (`X-Request-ID`, `X-Correlation-ID`) and
W3C trace headers go out as they came (the trace continued by the gateway's
hop). The answer is checked against phase1.yaml like any other
(`validation.responses`: enforce → 502, report → logged and counted, off)
and returned as it is — status, body and headers, less hop-by-hop ones —
with the gateway's `X-Request-ID`. The arm takes part in routing exactly as
an orchestrator does (it is just another name in the weights), in rollback
windows (5xx, contract breaks, timeouts count) and in health probes
(`GET /api/v1/status` stands in for `/v2/health`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from shimgw.errors import UpstreamContractViolation, UpstreamTimeout, UpstreamUnavailable
from shimgw.httpio import over_limit, read_capped
from shimgw.messages import Phase1Response, V2Request, V2Response
from shimgw.orchestrator import Limits
from shimgw.qos import UpstreamGate

if TYPE_CHECKING:  # the snapshot's module imports this one (through the runtime)
    from shimgw.snapshot import Snapshot

# What a client sent that the legacy backend must see too (lower case).
PASSED_HEADERS = ("x-api-key", "content-type", "accept", "tracestate", "baggage")
# Never copied from the legacy answer: hop-by-hop, or recomputed for the client.
_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-type",  # set from the answer's own, as Phase1Response carries it
        "content-encoding",
        "date",
        "server",
        "x-request-id",
        "upgrade",
        "proxy-authenticate",
        "trailer",
    }
)
LEGACY_HEALTH_PATH = "/api/v1/status"


@dataclass(frozen=True, slots=True, kw_only=True)
class PassThrough:
    """One Phase 1 call as it goes to the legacy backend."""

    method: str
    target: str  # raw path and query, exactly as the client sent them
    headers: tuple[tuple[str, str], ...]
    body: bytes


def pass_through(
    method: str, raw_target: str, incoming: Mapping[str, str], body: bytes, extra: Mapping[str, str]
) -> PassThrough:
    """The call to send: the client's own headers that matter, plus the gateway's `extra`
    (X-Request-ID, X-Correlation-ID, traceparent) which win over the client's."""
    overridden = {k.lower() for k in extra}
    # The client's own spelling of each name, repeated headers kept.
    headers = [
        (name, value)
        for name, value in incoming.items()
        if name.lower() in PASSED_HEADERS and name.lower() not in overridden
    ]
    headers.extend(extra.items())
    return PassThrough(
        method=method, target=origin_form(raw_target), headers=tuple(headers), body=body
    )


def origin_form(raw_target: str) -> str:
    """The path and query to send. A client may send absolute-form (`GET http://host/p`,
    RFC 9112 3.2.2): pasted after the arm's URL it would name another host or no URL at all,
    so only its path and query go on, still encoded as the client wrote them."""
    if raw_target.startswith("/"):
        return raw_target
    return URL(raw_target, encoded=True).raw_path_qs


def answer_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The legacy answer's headers a client gets (Content-Type is set by the caller)."""
    return [(k, v) for k, v in headers.items() if k.lower() not in _DROPPED]


class Phase1Upstream:
    """A legacy Phase 1 backend over HTTP/1.1 (aiohttp's pooled client, raw URLs)."""

    protocol = "phase1"

    def __init__(self, name: str, url: str, limits: Limits) -> None:
        self.name, self.url, self.limits = name, url, limits
        self._session: aiohttp.ClientSession | None = None
        # The same back-pressure as an orchestrator's (qos.py): in-flight cap, short queue.
        self.gate = UpstreamGate(
            name, limit=limits.max_connections, queue=limits.max_queue, wait=limits.connect_timeout
        )

    def same_as(self, url: str, limits: Limits) -> bool:
        return (self.url, self.limits) == (url, limits)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.limits.max_connections, keepalive_timeout=30
                ),
                timeout=aiohttp.ClientTimeout(
                    total=self.limits.total_timeout,
                    connect=self.limits.connect_timeout,
                    sock_connect=self.limits.connect_timeout,
                ),
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def forward(self, call: PassThrough) -> V2Response:
        """The legacy answer, raw (V2Response is the gateway's plain "HTTP answer" type)."""
        headers = CIMultiDict(self.limits.headers)
        headers.extend(call.headers)
        await self.gate.acquire()  # UpstreamBusy past the cap and the queue
        try:
            async with self._open().request(
                call.method,
                URL(self.url + call.target, encoded=True),
                headers=headers,
                data=call.body or None,
                allow_redirects=False,
            ) as resp:
                body = await read_capped(
                    resp.content,
                    resp.content_length,
                    self.limits.max_body_bytes,
                    resp.read,
                    lambda n: UpstreamUnavailable(
                        f"legacy backend ({self.name}) answer: "
                        f"{over_limit(n, self.limits.max_body_bytes)}"
                    ),
                )
                return V2Response(
                    status=resp.status,
                    headers=resp.headers,
                    content_type=resp.content_type.lower(),
                    body=body,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"legacy backend ({self.name}) did not answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnavailable(
                f"legacy backend ({self.name}) unreachable: {type(exc).__name__}"
            ) from exc
        finally:
            self.gate.release()

    async def send(self, request: V2Request, headers: Mapping[str, str]) -> V2Response:
        """Only the health probe is a /v2 call a legacy backend can stand in for."""
        if request.operation != "getHealth":
            raise UpstreamUnavailable(f"{self.name} is a Phase 1 backend: it takes no /v2 calls")
        probe = PassThrough(
            method="GET", target=LEGACY_HEALTH_PATH, headers=tuple(headers.items()), body=b""
        )
        return await self.forward(probe)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def legacy_answer(
    snapshot: Snapshot, operation: str, answer: V2Response
) -> tuple[Phase1Response, UpstreamContractViolation | None]:
    """The legacy answer as the client gets it, and how it breaks phase1.yaml (if it does)."""
    violation = None
    check = snapshot.cutover.answer_checks.get(operation)
    if check is not None and snapshot.config.validation.responses != "off":
        try:
            check.check(answer.status, answer.headers, answer.content_type, answer.body)
        except UpstreamContractViolation as exc:
            violation = UpstreamContractViolation(f"legacy backend: {exc.message}")
    content_type = answer.headers.get("content-type")
    return Phase1Response(
        status=answer.status,
        body=answer.body,
        content_type=content_type,
        headers=tuple(answer_headers(answer.headers)),
    ), violation
