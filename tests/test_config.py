"""A bad config is refused with one line naming the key; a good one parses to frozen data."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from shimgw.config import load_config, parse_config
from shimgw.errors import ConfigError

GOOD: dict[str, Any] = {"upstreams": {"stable": {"url": "http://127.0.0.1:9001", "weight": 1}}}


def parse(raw: Any) -> Any:
    return parse_config(raw, base=Path("."))


def test_defaults() -> None:
    config = parse(GOOD)
    assert (
        config.listen.host,
        config.listen.port,
        config.timeouts.connect,
        config.timeouts.total,
    ) == (
        "127.0.0.1",
        8080,
        2.0,
        10.0,
    )
    assert config.validation.responses == "enforce"
    assert config.routing.key == "header:X-Api-Key"
    assert config.admin.port == 9180
    assert parse({**GOOD, "admin": {"port": "off"}}).admin.port is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.listen.port = 1  # type: ignore[misc]


def test_single_upstream_weight_defaults_to_one() -> None:
    config = parse({"upstreams": {"only": {"url": "http://h"}}})
    assert config.upstreams["only"].weight == 1


def with_(**parts: Any) -> dict[str, Any]:
    return {**GOOD, **parts}


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ([], "config", "expected a mapping"),
        ({}, "upstreams", "at least one upstream"),
        (with_(listen={"port": "80"}), "listen.port", "whole number"),
        (with_(listen={"port": 70000}), "listen.port", "not a TCP port"),
        (with_(listen={"hots": "x"}), "listen.hots", "unknown key"),
        (with_(wat=1), "wat", "unknown key"),
        ({"upstreams": {"s": {"url": "ftp://x"}}}, "upstreams.s.url", "http(s) URL"),
        ({"upstreams": {"s": {"url": "http://x", "weight": -1}}}, "upstreams.s.weight", "≥ 0"),
        (
            {"upstreams": {"s": {"url": "http://x", "weight": 1.5}}},
            "upstreams.s.weight",
            "whole number",
        ),
        (
            {"upstreams": {"s": {"url": "http://x", "wieght": 1}}},
            "upstreams.s.wieght",
            "unknown key",
        ),
        ({"upstreams": {"s": {"url": "http://x", "weight": 0}}}, "upstreams", "all weights are 0"),
        (with_(timeouts={"connect": 0}), "timeouts.connect", "> 0"),
        (with_(timeouts={"connect": 5, "total": 1}), "timeouts.connect", "longer than"),
        (with_(validation={"responses": "maybe"}), "validation.responses", "enforce, report, off"),
        (with_(contracts={"phase1": "missing.yaml"}), "contracts.phase1", "does not exist"),
        (with_(translations="nowhere"), "translations", "does not exist"),
        (with_(limits={"max_body_bytes": 10}), "limits.max_body_bytes", "at least 1024"),
        (with_(routing={"key": "cookie"}), "routing.key", "header:<Name>"),
        (
            with_(routing={"routes": {"createJob": {"canary": 1}}}),
            "routing.routes.createJob.canary",
            "unknown upstream",
        ),
        (
            with_(routing={"routes": {"createJob": {"stable": 0}}}),
            "routing.routes.createJob",
            "all weights are 0",
        ),
        (
            with_(routing={"groups": [{"name": "g", "header": "X-G", "values": ["a"]}]}),
            "routing.groups[0]",
            "needs `weights` or `upstream`",
        ),
        (
            with_(routing={"groups": [{"header": "X-G", "values": ["a"], "upstream": "nope"}]}),
            "routing.groups[0].upstream",
            "known upstream",
        ),
        (
            with_(routing={"groups": [{"key_sha256": ["abc"], "upstream": "stable"}]}),
            "routing.groups[0].key_sha256[0]",
            "SHA-256",
        ),
        (with_(routing={"groups": [{"upstream": "stable"}]}), "routing.groups[0]", "by `header`"),
        (with_(admin={"port": 8080}), "admin.port", "must differ"),
        (with_(rollback={"max_error_rate": 2}), "rollback.max_error_rate", "from 0 to 1"),
        (with_(logging={"level": "loud"}), "logging.level", "one of"),
    ],
)
def test_errors_name_the_key(raw: Any, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstreams: {stable: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "tr").mkdir()
    path = tmp_path / "c.yaml"
    path.write_text("upstreams: {s: {url: 'http://x'}}\ntranslations: tr\n")
    config = load_config(path)
    assert config.translations == (tmp_path / "tr").resolve()
    assert len(config.digest) == 64
