"""The last check before an answer leaves: the gateway's own Phase 1 answer against phase1.yaml.

The static check and the generator prove the translations on schemas and on
examples; this one holds every translated answer on the wire to the compiled
Phase 1 validators (status, required headers, body), so whatever slips past
both — an orchestrator answer nobody imagined — still never reaches a legacy
client in a shape its contract forbids. A violation becomes a 502 in the Phase 1
error body naming the field (`validation.responses: enforce`), or is only logged
and counted (`report`); `off` skips the check. Answers served from the memo were
checked when they were stored.

Sans-IO: it takes a `Phase1Response` and a compiled `ResponseCheck`, nothing else.
"""

from __future__ import annotations

from shimgw.contracts.validators import ResponseCheck
from shimgw.errors import AnswerContractViolation, UpstreamContractViolation
from shimgw.messages import Phase1Response

_MAX_LOGGED = 2048  # bytes of each side kept in the log line


def check_sent(check: ResponseCheck, result: Phase1Response, rid: str) -> None:
    """Raise `AnswerContractViolation` naming the field when `result` breaks phase1.yaml."""
    headers = {"x-request-id": rid}  # the edge adds it to every answer
    for name, value in result.headers:
        headers[name.lower()] = value
    try:
        check.check(result.status, headers, result.content_type or "", result.body)
    except UpstreamContractViolation as exc:
        raise AnswerContractViolation(
            f"the gateway's answer would break phase1.yaml: {exc.message}"
        ) from exc


def excerpt(body: bytes) -> str:
    """A bounded, printable excerpt of a body for the log (bodies carry no credentials:
    those travel in headers, which are never logged)."""
    text = body[:_MAX_LOGGED].decode("utf-8", "replace")
    return text + ("…" if len(body) > _MAX_LOGGED else "")
