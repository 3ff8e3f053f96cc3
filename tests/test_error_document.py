"""Every Phase 1 error body comes from one builder; its shape is phase1.yaml's `Error`,
checked with another engine (the jsonschema package, not the gateway's jsonschema-rs)."""

from __future__ import annotations

import jsonschema
import orjson
import pytest
import yaml
from gwsupport import REPO

from shimgw.messages import error_document

ERROR = yaml.safe_load((REPO / "openapi" / "phase1.yaml").read_text())["components"]["schemas"][
    "Error"
]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (400, 'query parameter \'status\': "X" is not one of "QUEUED", "RUNNING"'),
        (502, "orchestrator answer cannot be translated: job_id: 'run-0' is below 1"),
        (404, "no such job: ünïcødé ✓ and a line\nbreak, a tab\t and a NUL \x00"),
        (503, ""),
    ],
)
def test_the_error_body_is_phase1_error_and_says_what_it_was_given(code: int, message: str) -> None:
    body = error_document(code, message, "0123456789abcdef0123456789abcdef")
    doc = orjson.loads(body)
    jsonschema.Draft202012Validator(ERROR).validate(doc)
    assert doc == {"error": message, "code": code, "request_id": "0123456789abcdef0123456789abcdef"}


def test_no_other_module_builds_an_error_body() -> None:
    """One builder: a second one is how two error shapes start to drift apart."""
    builders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "shimgw").rglob("*.py")
        if '"request_id": ' in path.read_text() and '"code": ' in path.read_text()
    ]
    # The reference legacy backend stands for another team's server: it keeps its own.
    assert sorted(builders) == ["shimgw/messages.py", "shimgw/reference/legacy.py"]
