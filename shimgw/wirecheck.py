"""The last check before an answer leaves: the gateway's own Phase 1 answer against phase1.yaml.

The static check and the generator prove the translations on schemas and on
examples; this one holds every translated answer on the wire to the compiled
Phase 1 validators (status, required headers, body), so whatever slips past
both — an orchestrator answer nobody imagined — still never reaches a legacy
client in a shape its contract forbids. A violation becomes a 502 in the Phase 1
error body naming the field (`validation.responses: enforce`), or is only logged
and counted (`report`); `off` skips the check. Answers served from the memo were
checked when they were stored.

Error answers made from /v2 errors (the status table) are checked the same way
(`error_answer` builds the body the edge will send): a 429 must keep Retry-After.

Sans-IO: it takes a `Phase1Response` and a compiled `ResponseCheck`, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shimgw.contracts.validators import ResponseCheck
from shimgw.errors import AnswerContractViolation, UpstreamContractViolation
from shimgw.messages import ABSENT, Phase1Response, error_document

_MAX_LOGGED = 2048  # bytes of each side kept in the log line


def check_sent(check: ResponseCheck, result: Phase1Response, rid: str, data: Any = ABSENT) -> None:
    """Raise `AnswerContractViolation` naming the field when `result` breaks phase1.yaml.

    `data`, when given, is what `result.body` was encoded from, proven JSON's own at build
    time (translate/exact.py): it is validated as is instead of parsing the body back."""
    headers = {"x-request-id": rid}  # the edge adds it to every answer
    for name, value in result.headers:
        headers[name.lower()] = value
    try:
        if data is ABSENT:
            check.check(result.status, headers, result.content_type or "", result.body)
        else:
            check.check_encoded(
                result.status, headers, result.content_type or "", result.body, data
            )
    except UpstreamContractViolation as exc:
        raise AnswerContractViolation(
            f"the gateway's answer would break phase1.yaml: {exc.message}"
        ) from exc


def error_answer(
    status: int, message: str, headers: Mapping[str, str], rid: str, promised: frozenset[int]
) -> Phase1Response:
    """The Phase 1 error answer the edge will write for a translated /v2 error (a status the
    operation does not promise becomes 502, as the edge does), for `check_sent`."""
    code = status if status in promised else 502
    body = error_document(code, message, rid)
    return Phase1Response(
        status=code, body=body, content_type="application/json", headers=tuple(headers.items())
    )


def excerpt(body: bytes) -> str:
    """A bounded, printable excerpt of a body for the log (bodies carry no credentials:
    those travel in headers, which are never logged)."""
    text = body[:_MAX_LOGGED].decode("utf-8", "replace")
    return text + ("…" if len(body) > _MAX_LOGGED else "")
