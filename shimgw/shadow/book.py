"""What the shadow comparisons found: counts per operation, the last differing samples.

Theory of operation
-------------------
`DiffBook` is the pure record behind `GET /admin/diffs`: a count per
(operation, result), a count per (operation, drift pointer) and a ring of
the last N differing samples. Its memory is bounded by construction: the
counters are keyed by operations and contract pointers (finite sets), the
ring has a fixed length and each sample body is cut to `SAMPLE_BODY_CHARS`.

Samples are redacted before they are stored, never on the way out, so no
secret is ever held in memory longer than the request that carried it:
header values whose names are credentials are replaced, JSON members whose
names look like secrets are replaced, and URL credentials (userinfo, and
query parameters named like secrets) are cut out of strings. The request
line keeps method, path and query with the same rules; the client's
`X-Api-Key` is never part of a sample.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shimgw import jsoncodec
from shimgw.shadow.compare import Observed, Result, Verdict

REDACTED = "[redacted]"
SAMPLE_BODY_CHARS = 4096
_SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|auth(orization)?|credential|cookie|signature)"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:[^=&#\s]*(?:pass|secret|token|key|auth|sig|credential)[^=&#\s]*)=)[^&#\s]*"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def redact_text(text: str) -> str:
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_NAME.search(str(k)) else redact_json(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_headers(headers: Mapping[str, str], keep: tuple[str, ...]) -> dict[str, str]:
    """Only the headers compared (`keep`), credentials replaced."""
    out = {}
    for name in keep:
        value = headers.get(name.lower())
        if value is not None:
            out[name] = REDACTED if _SECRET_NAME.search(name) else redact_text(value)
    return out


def _body_view(answer: Observed) -> Any:
    if not answer.body:
        return None
    if "json" in (answer.content_type or ""):
        try:  # exact, as the comparison reads it: a sample shows the digits that differed
            doc = redact_json(jsoncodec.loads(answer.body))
        except ValueError:
            pass
        else:
            text = jsoncodec.dumps(doc).decode()
            return doc if len(text) <= SAMPLE_BODY_CHARS else text[:SAMPLE_BODY_CHARS] + "…"
    text = answer.body[:SAMPLE_BODY_CHARS].decode("utf-8", "replace")
    cut = "…" if len(answer.body) > SAMPLE_BODY_CHARS else ""
    return redact_text(text) + cut


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    arm: str
    status: int
    headers: Mapping[str, str]
    body: Any  # redacted JSON, or text cut to SAMPLE_BODY_CHARS

    @classmethod
    def of(cls, arm: str, answer: Observed, headers: tuple[str, ...]) -> Side:
        keep = (*headers, "Content-Type")
        view = {**answer.headers, "content-type": answer.content_type or ""}
        return cls(
            arm=arm,
            status=answer.status,
            headers=redact_headers(view, keep),
            body=_body_view(answer),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    operation: str
    at: float
    request: str  # "GET /api/v1/jobs/4?…", redacted
    request_id: str
    pointers: tuple[str, ...]
    noise: tuple[str, ...]
    primary: Side
    shadow: Side

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "at": self.at,
            "request": self.request,
            "request_id": self.request_id,
            "pointers": list(self.pointers),
            "noise": list(self.noise),
            "primary": self.primary.to_json(),
            "shadow": self.shadow.to_json(),
        }


def request_line(method: str, path_qs: str) -> str:
    return f"{method} {redact_text(path_qs)}"


class DiffBook:
    """Counts and the last `keep` differing samples; one per runtime (per worker)."""

    def __init__(self, keep: int = 20) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.fields: dict[str, dict[str, int]] = {}
        self.samples: deque[Sample] = deque(maxlen=keep)

    def count(self, operation: str, result: Result) -> None:
        per_op = self.counts.setdefault(operation, {})
        per_op[result.value] = per_op.get(result.value, 0) + 1

    def record(self, operation: str, verdict: Verdict, sample: Sample | None = None) -> None:
        self.count(operation, verdict.result)
        fields = self.fields.setdefault(operation, {})
        for pointer in verdict.drift:
            fields[pointer] = fields.get(pointer, 0) + 1
        if verdict.result is Result.DIFFER and sample is not None:
            self.samples.append(sample)

    def describe(self, noise: Mapping[str, frozenset[str]] | None = None) -> dict[str, Any]:
        operations = {}
        for op in sorted(self.counts.keys() | self.fields.keys()):
            counts = {r.value: self.counts.get(op, {}).get(r.value, 0) for r in Result}
            operations[op] = {
                "counts": counts,
                "compared": sum(counts[r.value] for r in Result if r is not Result.DROPPED),
                "pointers": dict(sorted(self.fields.get(op, {}).items(), key=lambda kv: -kv[1])),
                "noise": sorted((noise or {}).get(op, ())),
            }
        return {
            "at": time.time(),
            "operations": operations,
            "samples": [s.to_json() for s in reversed(self.samples)],
        }
