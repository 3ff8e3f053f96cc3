"""The legacy arm's request target: always origin-form, bytes as the client sent them."""

from __future__ import annotations

import pytest

from shimgw.legacy_arm import pass_through


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("/api/v1/jobs/%2e%2e?a=%20&a=b", "/api/v1/jobs/%2e%2e?a=%20&a=b"),
        ("//api/v1/jobs", "//api/v1/jobs"),
        ("http://evil.example/api/v1/status", "/api/v1/status"),
        ("HTTP://user:pw@127.0.0.1:9/api/v1/jobs/%31?x=%20", "/api/v1/jobs/%31?x=%20"),
        ("http://evil.example", "/"),
    ],
)
def test_target_is_origin_form(raw: str, sent: str) -> None:
    assert pass_through("GET", raw, {}, b"", {}).target == sent
