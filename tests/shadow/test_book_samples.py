"""Diff samples keep big integers exact, from the answer to /admin/diffs."""

from __future__ import annotations

import json

from shimgw.admin import _json
from shimgw.shadow.book import _body_view
from shimgw.shadow.compare import Observed

BIG = 123456789012345678901234567890


def test_a_sample_body_keeps_a_big_integer_and_the_admin_answer_writes_it() -> None:
    answer = Observed(
        status=200,
        headers={},
        content_type="application/json",
        body=b'{"params": {"n": %d}, "owner": "ana"}' % BIG,
    )
    view = _body_view(answer)
    assert view == {"params": {"n": BIG}, "owner": "ana"}
    written = _json({"samples": [view]})
    assert written.body is not None
    assert json.loads(written.body) == {"samples": [{"params": {"n": BIG}, "owner": "ana"}]}
