"""What the shadow comparisons found: counts per operation, the last differing samples.

Theory of operation
-------------------
`DiffBook` is the pure record behind `GET /admin/diffs`: a count per
(operation, result), a count per (operation, drift pointer) and a ring of
the last N differing samples. Its memory is bounded by construction: the
counters are keyed by operations and contract pointers (finite sets), the
ring has a fixed length and each sample body is cut to `SAMPLE_BODY_CHARS`.

Under `--workers N` each worker's book is also written out as a `DiffShare`
(shares.py); worker 0 adds up the shares of the config in force (`version`):
counts and pointers summed, learned noise joined, the newest samples kept.

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
from collections.abc import Mapping, Sequence
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
    """Counts and the last `keep` differing samples; one per runtime (per worker: worker 0
    adds up the others' shares when it answers)."""

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

    def share(self, version: str | None, noise: Mapping[str, frozenset[str]]) -> DiffShare:
        """This process's book as data, for the admin worker to add up (shares.py)."""
        return DiffShare(
            version=version,
            counts={op: dict(per_op) for op, per_op in self.counts.items()},
            fields={op: dict(per_op) for op, per_op in self.fields.items()},
            noise={op: sorted(pointers) for op, pointers in noise.items()},
            samples=[s.to_json() for s in self.samples],
        )

    def describe(
        self, noise: Mapping[str, frozenset[str]] | None = None, others: Sequence[DiffShare] = ()
    ) -> dict[str, Any]:
        """`/admin/diffs`; `others` are other workers' books (of the same version)."""
        mine = self.share(None, noise or {})
        counts, fields = _sum(mine.counts, others, "counts"), _sum(mine.fields, others, "fields")
        learned: dict[str, set[str]] = {}
        for share in (mine, *others):
            for op, pointers in share.noise.items():
                learned.setdefault(op, set()).update(pointers)
        operations = {}
        for op in sorted(counts.keys() | fields.keys()):
            tally = {r.value: counts.get(op, {}).get(r.value, 0) for r in Result}
            operations[op] = {
                "counts": tally,
                "compared": sum(tally[r.value] for r in Result if r is not Result.DROPPED),
                "pointers": dict(sorted(fields.get(op, {}).items(), key=lambda kv: -kv[1])),
                "noise": sorted(learned.get(op, ())),
            }
        # Newest first; ties keep each book's own order (a stable sort).
        samples = [s for share in (mine, *others) for s in reversed(share.samples)]
        samples.sort(key=_sample_at, reverse=True)
        return {
            "at": time.time(),
            "processes": 1 + len(others),
            "operations": operations,
            "samples": samples[: self.samples.maxlen],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffShare:
    """One process's diff book as JSON-ready data: written by each worker, read by worker 0."""

    version: str | None  # the snapshot it speaks for: other versions are not added up
    counts: dict[str, dict[str, int]]
    fields: dict[str, dict[str, int]]
    noise: dict[str, list[str]]
    samples: list[dict[str, Any]]  # Sample.to_json(), newest last

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "counts": self.counts,
            "fields": self.fields,
            "noise": self.noise,
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: Any) -> DiffShare:
        """ValueError for anything but what `to_json` writes (a torn or foreign file)."""
        try:
            share = cls(
                version=data["version"],
                counts=_tallies(data["counts"]),
                fields=_tallies(data["fields"]),
                noise={str(op): [str(p) for p in ps] for op, ps in data["noise"].items()},
                samples=[s for s in data["samples"] if isinstance(s, dict)],
            )
            for sample in share.samples:
                float(sample["at"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a diff share: {exc}") from exc
        if share.version is not None and not isinstance(share.version, str):
            raise ValueError("not a diff share: version")
        return share


def _tallies(data: Any) -> dict[str, dict[str, int]]:
    return {
        str(op): {str(k): n for k, n in per_op.items() if type(n) is int and n >= 0}
        for op, per_op in data.items()
    }


def _sum(
    mine: dict[str, dict[str, int]], others: Sequence[DiffShare], attr: str
) -> dict[str, dict[str, int]]:
    total = {op: dict(per_op) for op, per_op in mine.items()}
    for share in others:
        for op, per_op in getattr(share, attr).items():
            into = total.setdefault(op, {})
            for key, n in per_op.items():
                into[key] = into.get(key, 0) + n
    return total


def _sample_at(sample: Mapping[str, Any]) -> float:
    return float(sample["at"])
