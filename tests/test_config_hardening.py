"""Config keys issue 9 added: per-upstream caps, and URLs that must not carry secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shimgw.config import parse_config
from shimgw.errors import ConfigError


def parse(raw: Any) -> Any:
    return parse_config(raw, base=Path("."))


def test_upstream_caps_default_and_parse() -> None:
    config = parse({"upstreams": {"s": {"url": "http://h"}}})
    assert (config.upstreams["s"].max_connections, config.upstreams["s"].max_queue) == (128, 128)
    custom = parse({"upstreams": {"s": {"url": "http://h", "max_connections": 4, "max_queue": 0}}})
    assert (custom.upstreams["s"].max_connections, custom.upstreams["s"].max_queue) == (4, 0)


@pytest.mark.parametrize(
    ("upstream", "key", "problem"),
    [
        ({"url": "http://user:pw@h:1"}, "upstreams.s.url", "credentials"),
        ({"url": "http://token@h"}, "upstreams.s.url", "credentials"),
        ({"url": "http://h", "max_connections": 0}, "upstreams.s.max_connections", "≥ 1"),
        ({"url": "http://h", "max_queue": -1}, "upstreams.s.max_queue", "≥ 0"),
    ],
)
def test_refused(upstream: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"upstreams": {"s": upstream}})
    assert caught.value.key == key and problem in caught.value.problem
    assert "pw" not in str(caught.value) and "token" not in str(caught.value)


def test_headers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_KEY", "s3cret")
    config = parse({"upstreams": {"s": {"url": "http://h", "headers_env": {"X-Key": "ORCH_KEY"}}}})
    assert config.upstreams["s"].headers == (("X-Key", "s3cret"),)
    assert "s3cret" not in repr(config.upstreams["s"])
    with pytest.raises(ConfigError, match="unset") as caught:
        parse({"upstreams": {"s": {"url": "http://h", "headers_env": {"X-Key": "NOPE_UNSET"}}}})
    assert caught.value.key == "upstreams.s.headers_env.X-Key"
    with pytest.raises(ConfigError, match="header name"):
        parse({"upstreams": {"s": {"url": "http://h", "headers_env": {"X Key": "ORCH_KEY"}}}})
