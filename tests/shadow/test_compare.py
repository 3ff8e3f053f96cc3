"""Shadow comparison as tables: diff pointers, normalisation, noise, ignore lists, redaction."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shimgw import resources
from shimgw.contracts.document import load_contract
from shimgw.shadow.book import REDACTED, DiffBook, Sample, Side, redact_json, redact_text
from shimgw.shadow.compare import (
    NoiseModel,
    Observed,
    PointerTable,
    Result,
    diff,
    judge,
    normalise_pointer,
    pointer_tables,
)

PHASE1 = load_contract(resources.phase1_contract(), "contracts.phase1")
TABLES = pointer_tables(PHASE1)

JOB: dict[str, Any] = {
    "job_id": 4,
    "name": "model-train",
    "engine": "spark",
    "owner": "",
    "status": "QUEUED",
    "priority": "low",
    "params": {"a": 1},
    "tags": ["x", "y"],
    "created": 1,
    "updated": 2,
    "started": None,
    "finished": None,
    "exit_code": None,
    "callback_url": None,
}


def answer(
    body: Any, status: int = 200, ctype: str = "application/json", **headers: str
) -> Observed:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    heads = {"x-request-id": "r1", **{k.lower().replace("_", "-"): v for k, v in headers.items()}}
    return Observed(status=status, headers=heads, content_type=ctype, body=raw)


def job(**changes: Any) -> dict[str, Any]:
    return {**JOB, **changes}


def page(*jobs: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    return {"jobs": list(jobs), "page": 1, "per_page": 20, "total": total or len(jobs)}


@pytest.mark.parametrize(
    ("operation", "left", "right", "expected"),
    [
        ("getJob", answer(job()), answer(job()), set()),
        ("getJob", answer(job()), answer(job(owner="unknown")), {"/owner"}),
        ("getJob", answer(job()), answer(job(name="n", updated=9)), {"/name", "/updated"}),
        ("getJob", answer(job()), answer(job(started=5)), {"/started"}),
        # absent is not null
        (
            "getJob",
            answer(job()),
            answer({k: v for k, v in JOB.items() if k != "started"}),
            {"/started"},
        ),
        # free-form params collapse to /params, whatever key differs
        ("getJob", answer(job()), answer(job(params={"a": 2, "zz": 1})), {"/params"}),
        # integers past 64 bits compared exactly (orjson would read both as one float)
        (
            "getJob",
            answer(b'{"job_id":4,"params":{"a":123456789012345678901234567890}}'),
            answer(b'{"job_id":4,"params":{"a":123456789012345678901234567891}}'),
            {"/params"},
        ),
        # a member the contract does not name is reported at its parent
        ("getJob", answer(job()), answer(job(extra=1)), {"/"}),
        ("getJob", answer(job()), answer(job(tags=["x", "z"])), {"/tags/*"}),
        ("getJob", answer(job()), answer(job(tags=["x"])), {"/tags"}),
        ("getJob", answer(job()), answer(job(), status=404), {"status"}),
        ("getJob", answer(job()), answer(job(), x_request_id="r2"), {"header:X-Request-ID"}),
        ("getJob", answer(job()), answer(b"{oops"), {"/"}),
        ("getJob", answer(job()), answer(job(), ctype="text/plain"), {"header:Content-Type"}),
        # array indices collapse: two different jobs differ at the same pointer
        (
            "listJobs",
            answer(page(job(), job(job_id=5, owner="a"))),
            answer(page(job(owner="unknown"), job(job_id=5, owner="b"))),
            {"/jobs/*/owner"},
        ),
        ("listJobs", answer(page(job())), answer(page(job(), total=7)), {"/total"}),
        (
            "getJobLogs",
            answer(b"1 stdout a\n", ctype="text/plain"),
            answer(b"1 stdout b\n", ctype="text/plain"),
            {"/"},
        ),
        (
            "getJob",
            answer({"error": "no job 9", "code": 404, "request_id": "r1"}, status=404),
            answer({"error": "job 9 not found", "code": 404, "request_id": "r1"}, status=404),
            {"/error"},
        ),
        (
            "listJobs",
            answer({"error": "x", "code": 429, "request_id": "r"}, status=429, retry_after="1"),
            answer({"error": "x", "code": 429, "request_id": "r"}, status=429, retry_after="2"),
            {"header:Retry-After"},
        ),
    ],
)
def test_diff(operation: str, left: Observed, right: Observed, expected: set[str]) -> None:
    table = TABLES[operation]
    found = diff(table, left, right)
    assert found == expected
    assert found <= table.known_pointers()  # every pointer comes from the contract's finite set
    assert diff(table, right, left) == found


def test_known_pointers_are_bounded_by_the_contract() -> None:
    known = TABLES["listJobs"].known_pointers()
    assert {"/jobs/*/owner", "/jobs/*/tags/*", "/total", "header:Retry-After"} <= known
    assert not any(part.isdigit() for p in known for part in p.split("/"))
    assert len(known) < 50


def test_pointer_cardinality_stays_bounded_for_any_answers() -> None:
    table: PointerTable = TABLES["listJobs"]
    seen: set[str] = set()
    for n in range(50):
        left = page(*(job(job_id=i + 1, params={f"k{n}": n}) for i in range(n % 7)))
        right = page(*(job(job_id=i + 1, owner=str(n), tags=[str(n)]) for i in range(n % 5)))
        seen |= diff(table, answer(left), answer(right))
    assert seen <= table.known_pointers()


@pytest.mark.parametrize(
    ("differing", "ignore", "noise", "result", "drift"),
    [
        (set(), set(), set(), Result.MATCH, ()),
        ({"/owner"}, set(), set(), Result.DIFFER, ("/owner",)),
        ({"/updated"}, set(), {"/updated"}, Result.NOISE_ONLY, ()),
        ({"/updated", "/owner"}, set(), {"/updated"}, Result.DIFFER, ("/owner",)),
        ({"/error"}, {"/error"}, set(), Result.MATCH, ()),
        ({"/jobs/*/owner", "/jobs/*/name"}, {"/jobs/*"}, set(), Result.MATCH, ()),
        ({"/jobs/*/owner"}, {"/jobs"}, set(), Result.MATCH, ()),
        ({"/jobsx"}, {"/jobs"}, set(), Result.DIFFER, ("/jobsx",)),
        ({"status"}, {"/"}, set(), Result.DIFFER, ("status",)),
    ],
)
def test_judge(
    differing: set[str], ignore: set[str], noise: set[str], result: Result, drift: tuple[str, ...]
) -> None:
    verdict = judge(differing, ignore=frozenset(ignore), noise=frozenset(noise))
    assert (verdict.result, verdict.drift) == (result, drift)


def test_noise_learning_marks_fields_that_differ_between_two_primary_answers() -> None:
    table = TABLES["getJob"]
    model = NoiseModel()
    # The primary asked twice: its own answers differ in `updated` (a clock), not in `owner`.
    first, again = answer(job(updated=10)), answer(job(updated=11))
    model.learn("getJob", diff(table, first, again))
    assert model.noise_of("getJob") == {"/updated"} and model.samples("getJob") == 1
    shadow = answer(job(updated=12))
    verdict = judge(diff(table, first, shadow), ignore=frozenset(), noise=model.noise_of("getJob"))
    assert verdict.result is Result.NOISE_ONLY
    drifted = answer(job(updated=12, owner="unknown"))
    verdict = judge(diff(table, first, drifted), ignore=frozenset(), noise=model.noise_of("getJob"))
    assert (verdict.result, verdict.drift, verdict.noise) == (
        Result.DIFFER,
        ("/owner",),
        ("/updated",),
    )
    assert model.noise_of("listJobs") == frozenset()  # noise is per operation


@pytest.mark.parametrize(
    ("written", "normal"),
    [("/jobs/0/owner", "/jobs/*/owner"), ("/jobs/-", "/jobs/*"), ("", "/"), ("status", "status")],
)
def test_normalise_pointer(written: str, normal: str) -> None:
    assert normalise_pointer(written) == normal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@hooks.example.com/x", f"https://{REDACTED}@hooks.example.com/x"),
        ("/cb?token=abc&x=1", f"/cb?token={REDACTED}&x=1"),
        ("/api/v1/jobs?api_key=s3cret", f"/api/v1/jobs?api_key={REDACTED}"),
        ("Bearer abc.def", f"Bearer {REDACTED}"),
        ("nothing here", "nothing here"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_json_replaces_secret_members_and_url_credentials() -> None:
    doc = {
        "callback_url": "https://u:p@h/x?sig=1",
        "params": {"password": "p", "db_token": "t", "n": 1},
        "tags": ["Bearer xyz"],
    }
    assert redact_json(doc) == {
        "callback_url": f"https://{REDACTED}@h/x?sig={REDACTED}",
        "params": {"password": REDACTED, "db_token": REDACTED, "n": 1},
        "tags": [f"Bearer {REDACTED}"],
    }


def _sample(pointers: tuple[str, ...]) -> Sample:
    primary = answer(job(callback_url="https://a:b@h/"), authorization="Bearer s3cret")
    side = Side.of("legacy", primary, ("X-Request-ID", "Authorization"))
    return Sample(
        operation="getJob",
        at=0.0,
        request="GET /api/v1/jobs/4",
        request_id="r1",
        pointers=pointers,
        noise=(),
        primary=side,
        shadow=side,
    )


def test_diff_book_counts_and_keeps_the_last_samples_redacted() -> None:
    book = DiffBook(keep=2)
    for i in range(3):
        verdict = judge({f"/n{i}"}, ignore=frozenset(), noise=frozenset())
        book.record("getJob", verdict, _sample(verdict.drift))
    book.record("getJob", judge(set(), ignore=frozenset(), noise=frozenset()), _sample(()))
    book.count("listJobs", Result.DROPPED)
    out = book.describe({"getJob": frozenset({"/updated"})})
    assert out["operations"]["getJob"]["counts"]["differ"] == 3
    assert out["operations"]["getJob"]["counts"]["match"] == 1
    assert out["operations"]["getJob"]["noise"] == ["/updated"]
    assert out["operations"]["listJobs"]["counts"]["dropped"] == 1
    assert out["operations"]["listJobs"]["compared"] == 0
    assert [s["pointers"] for s in out["samples"]] == [["/n2"], ["/n1"]]
    text = orjson.dumps(out).decode()
    assert "s3cret" not in text and "a:b@" not in text
    assert out["samples"][0]["primary"]["headers"]["Authorization"] == REDACTED
