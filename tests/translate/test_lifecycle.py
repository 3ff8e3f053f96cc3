"""`lifecycle` in a translation file: constant Deprecation / Sunset / Link header lines."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from shimgw.errors import TranslationError
from shimgw.translate.language import parse_documents
from shimgw.translate.lifecycle import parse_lifecycle

ERRORS = {"errors": {"status": {404: 404}}}
DOC = "https://docs.example.com/phase1/getJob"
POLICY = "https://docs.example.com/sunset"


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (None, ()),
        ({"deprecation": "2026-06-01T00:00:00Z"}, (("Deprecation", "@1780272000"),)),
        (
            {"deprecation": "2026-06-01T02:00:00+02:00", "sunset": "2027-01-01T00:00:00Z"},
            (("Deprecation", "@1780272000"), ("Sunset", "Fri, 01 Jan 2027 00:00:00 GMT")),
        ),
        # Unquoted, YAML reads a datetime: the same instant.
        (
            {"sunset": datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)},
            (("Sunset", "Fri, 01 Jan 2027 00:00:00 GMT"),),
        ),
        ({"link": {"sunset": POLICY}}, (("Link", f'<{POLICY}>; rel="sunset"'),)),
        (
            {
                "deprecation": "2026-06-01T00:00:00Z",
                "sunset": "2026-06-01T00:00:00Z",  # the same instant is allowed
                "link": {"sunset": POLICY, "deprecation": DOC},
            },
            (
                ("Deprecation", "@1780272000"),
                ("Sunset", "Mon, 01 Jun 2026 00:00:00 GMT"),
                ("Link", f'<{DOC}>; rel="deprecation", <{POLICY}>; rel="sunset"'),
            ),
        ),
    ],
)
def test_lifecycle_headers(raw: Any, headers: tuple[tuple[str, str], ...]) -> None:
    assert parse_lifecycle(raw, "op.yaml: lifecycle") == headers


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ({}, "lifecycle", "expected a mapping"),
        ("2027-01-01", "lifecycle", "expected a mapping"),
        ({"sunest": "2027-01-01T00:00:00Z"}, "lifecycle.sunest", "unknown key"),
        ({"sunset": "2027-01-01"}, "lifecycle.sunset", "not an RFC 3339 date-time"),
        ({"sunset": "2027-02-30T00:00:00Z"}, "lifecycle.sunset", "not a calendar date-time"),
        ({"sunset": "2027-01-01T00:00:00"}, "lifecycle.sunset", "not an RFC 3339"),  # no offset
        ({"sunset": datetime.datetime(2027, 1, 1)}, "lifecycle.sunset", "needs its offset"),
        ({"sunset": datetime.date(2027, 1, 1)}, "lifecycle.sunset", "expected an RFC 3339"),
        ({"sunset": 1798761600}, "lifecycle.sunset", "expected an RFC 3339"),
        ({"deprecation": "1969-12-31T23:59:59Z"}, "lifecycle.deprecation", "before 1970"),
        (
            {"deprecation": "2027-01-01T00:00:00Z", "sunset": "2026-12-31T23:59:59Z"},
            "lifecycle.sunset",
            "earlier than deprecation",
        ),
        ({"link": POLICY}, "lifecycle.link", "{deprecation: URL, sunset: URL}"),
        ({"link": {"successor": POLICY}}, "lifecycle.link", "{deprecation: URL, sunset: URL}"),
        ({"link": {"sunset": "/docs/sunset"}}, "lifecycle.link.sunset", "absolute http(s)"),
        ({"link": {"sunset": "ftp://x/y"}}, "lifecycle.link.sunset", "absolute http(s)"),
        ({"link": {"sunset": "https://x/a>b"}}, "lifecycle.link.sunset", "angle brackets"),
        ({"link": {"sunset": "https://x/a b"}}, "lifecycle.link.sunset", "without spaces"),
        ({"link": {"sunset": "https://x/\r\nSet-Cookie: a"}}, "lifecycle.link.sunset", "ASCII"),
        ({"link": {"sunset": "https://x/é"}}, "lifecycle.link.sunset", "ASCII"),
    ],
)
def test_lifecycle_refused(raw: Any, where: str, message: str) -> None:
    with pytest.raises(TranslationError) as caught:
        parse_lifecycle(raw, "lifecycle")
    assert caught.value.key == where
    assert message in caught.value.problem


GET_JOB = {
    "operation": "getJob",
    "target": "getRun",
    "request": {"path": {"runId": {"from": "path.job_id"}}},
    "responses": {200: {"status": 200, "body": {"const": {}}}},
}
LIFECYCLE = {"deprecation": "2026-06-01T00:00:00Z", "sunset": "2027-01-01T00:00:00Z"}


def test_a_translation_file_carries_its_lifecycle() -> None:
    parsed = parse_documents([("_c.yaml", ERRORS), ("g.yaml", {**GET_JOB, "lifecycle": LIFECYCLE})])
    assert dict(parsed.operations["getJob"].lifecycle) == {
        "Deprecation": "@1780272000",
        "Sunset": "Fri, 01 Jan 2027 00:00:00 GMT",
    }
    plain = parse_documents([("_c.yaml", ERRORS), ("g.yaml", GET_JOB)])
    assert plain.operations["getJob"].lifecycle == ()


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (
            {
                **GET_JOB,
                "responses": {
                    200: {
                        "status": 200,
                        "body": {"const": {}},
                        "headers": {"sunset": {"const": "x"}},
                    }
                },
            },
            "g.yaml: responses.200.headers.sunset",
        ),
        (
            {
                "operation": "getJobStats",
                "local": {
                    "status": 410,
                    "error": "gone",
                    "headers": {"Deprecation": {"const": "@1"}},
                },
            },
            "g.yaml: local.headers.Deprecation",
        ),
    ],
)
def test_a_header_is_written_by_lifecycle_or_by_a_rule_not_both(
    doc: dict[str, Any], where: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        parse_documents([("_c.yaml", ERRORS), ("g.yaml", {**doc, "lifecycle": LIFECYCLE})])
    assert caught.value.key == where
    assert "written by `lifecycle`" in caught.value.problem


def test_a_bad_lifecycle_names_its_file() -> None:
    with pytest.raises(TranslationError) as caught:
        parse_documents(
            [("_c.yaml", ERRORS), ("g.yaml", {**GET_JOB, "lifecycle": {"sunset": "soon"}})]
        )
    assert caught.value.key == "g.yaml: lifecycle.sunset"
