"""The one error tree of shimgw.

Every failure a Phase 1 client can see is a `GatewayError` that knows its Phase 1
status and message; the edge turns it into the Phase 1 error body. Library
errors (aiohttp, jsonschema-rs, YAML) are caught where they happen and re-raised
as one of these with `raise ... from`, so nothing below the edge leaks a library
type to the handler and no traceback ever reaches a client.

Configuration problems form a separate branch (`ConfigError`): they never reach
a client, they stop a start or refuse a reload with one line naming the key.
"""

from __future__ import annotations


class ShimError(Exception):
    """Root of everything shimgw raises on purpose."""


# --- errors a Phase 1 client sees -------------------------------------------------------------


class GatewayError(ShimError):
    """An error answered to the client with the Phase 1 error body.

    Each kind sets its own status. One that names none is a bug and is answered
    like one, 502: Phase 1 never answers 500.
    """

    status: int = 502

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = headers or {}


class BadRequest(GatewayError):
    """The Phase 1 request breaks phase1.yaml (or cannot be read at all)."""

    status = 400


class PayloadTooLarge(BadRequest):
    """A body over `limits.max_body_bytes`. Phase 1 promises no 413, so it stays a 400."""


class AnnouncedBodyTooLarge(PayloadTooLarge):
    """Refused by its declared length in place of `100 Continue`: the body is never read
    (a client that waited does not send it, one that did not is not read), so the
    connection closes after the answer (RFC 9110 §10.1.1; edge.py `_close_first`)."""


class BodyTimeout(BadRequest):
    """A body not received within `timeouts.client_body` (Phase 1 has no 408)."""


class UntranslatableRequest(BadRequest):
    """A valid Phase 1 request whose /v2 form phase2.yaml rejects.

    Phase 1 allows some values /v2 cannot carry (an owner with a line break
    cannot be a `label` filter); the gateway never sends such a call.
    """


class RouteNotFound(GatewayError):
    status = 404


class MethodNotAllowed(GatewayError):
    status = 405

    def __init__(self, message: str, *, allow: tuple[str, ...]) -> None:
        super().__init__(message, headers={"Allow": ", ".join(allow)})


class UpstreamError(GatewayError):
    """The orchestrator could not give a usable answer."""

    status = 502


class UpstreamUnavailable(UpstreamError):
    """Refused, reset, closed mid-answer, or not HTTP at all."""


class UpstreamContractViolation(UpstreamError):
    """The orchestrator answered, but the answer breaks phase2.yaml."""


class AnswerContractViolation(GatewayError):
    """The gateway's own Phase 1 answer breaks phase1.yaml (wirecheck.py): 502, never sent."""

    status = 502


class UpstreamBusy(GatewayError):
    """The upstream's connection and queue caps are full (qos.py): retry shortly.

    The handler answers it as if the orchestrator had said 503 (with Retry-After),
    through the operation's own status table, so each operation keeps its contract.
    """

    status = 503


class ShuttingDown(UpstreamBusy):
    """A request still running when `shutdown.grace_s` ran out: the edge cancels it with
    `SHUTDOWN_CUT` and it is answered as a busy orchestrator is (503, Retry-After) rather
    than left to the process's end. Not the upstream's fault: not counted against it."""

    def __init__(self) -> None:
        super().__init__("the gateway is shutting down", headers={"Retry-After": "1"})


SHUTDOWN_CUT = "shimgw: shutdown.grace_s ran out"  # the message of that cancellation


def is_shutdown_cut(exc: BaseException) -> bool:
    return exc.args[:1] == (SHUTDOWN_CUT,)


class RateLimited(GatewayError):
    """The client passed `limits.per_client_rps`; carries Retry-After."""

    status = 429


class UpstreamTimeout(GatewayError):
    """No connection within `timeouts.connect`, or no whole answer within `timeouts.total`."""

    status = 504


class TranslatedError(GatewayError):
    """A /v2 error status translated through the status table.

    The status is per instance: it is whatever the table (and the Phase 1
    operation's list of promised statuses) gives.
    """

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers)
        self.status = status


class InternalError(GatewayError):
    """A bug in shimgw. Phase 1 has no 500; a client sees 502, the log sees the cause."""

    status = 502


# --- errors an operator sees -----------------------------------------------------------------


class ConfigError(ShimError):
    """A configuration, contract or translation that cannot serve.

    `key` is the dotted path of the offending setting (or file), so the one
    line an operator reads says where to look.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class TranslationError(ConfigError):
    """A translation file that the mapping language or the contracts reject."""
