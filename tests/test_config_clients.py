"""`clients: [{name, key_sha256}]`: names for the usage counts, validated like groups."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from shimgw.config import ClientConfig, parse_config
from shimgw.errors import ConfigError

GOOD: dict[str, Any] = {"upstreams": {"stable": {"url": "http://127.0.0.1:9001", "weight": 1}}}
A = hashlib.sha256(b"key-a").hexdigest()
B = hashlib.sha256(b"key-b").hexdigest()
C = hashlib.sha256(b"key-c").hexdigest()


def parse(clients: Any) -> Any:
    return parse_config({**GOOD, "clients": clients}, base=Path("."))


def test_no_clients_by_default() -> None:
    assert parse_config(GOOD, base=Path(".")).clients == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], ()),
        ([{"name": "acme", "key_sha256": A}], (ClientConfig("acme", frozenset({A})),)),
        (
            [{"name": "acme", "key_sha256": [A, B]}, {"name": "beta-2.x", "key_sha256": [C]}],
            (ClientConfig("acme", frozenset({A, B})), ClientConfig("beta-2.x", frozenset({C}))),
        ),
    ],
)
def test_clients_parse(raw: Any, expected: tuple[ClientConfig, ...]) -> None:
    assert parse(raw).clients == expected


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({"name": "acme"}, "clients", "expected a list"),
        (["acme"], "clients[0]", "expected a mapping"),
        ([{"key_sha256": A}], "clients[0].name", "non-empty string"),
        ([{"name": "", "key_sha256": A}], "clients[0].name", "non-empty string"),
        ([{"name": "a b", "key_sha256": A}], "clients[0].name", "letters, digits"),
        ([{"name": "x" * 65, "key_sha256": A}], "clients[0].name", "at most 64"),
        ([{"name": "unnamed", "key_sha256": A}], "clients[0].name", "reserved"),
        ([{"name": "acme"}], "clients[0].key_sha256", "at least one"),
        ([{"name": "acme", "key_sha256": []}], "clients[0].key_sha256", "at least one"),
        ([{"name": "acme", "key_sha256": [A.upper()]}], "clients[0].key_sha256[0]", "lower-case"),
        ([{"name": "acme", "key_sha256": [A, "abc"]}], "clients[0].key_sha256[1]", "SHA-256"),
        ([{"name": "acme", "key_sha256": A, "keys": 1}], "clients[0].keys", "unknown key"),
        (
            [{"name": "acme", "key_sha256": A}, {"name": "acme", "key_sha256": B}],
            "clients[1].name",
            "also clients[0]",
        ),
        (
            [{"name": "acme", "key_sha256": A}, {"name": "beta", "key_sha256": [B, A]}],
            "clients[1].key_sha256[1]",
            "also listed by client 'acme'",
        ),
        (
            [{"name": "acme", "key_sha256": [A, A]}],
            "clients[0].key_sha256[1]",
            "also listed by client 'acme'",
        ),
    ],
)
def test_clients_refused(raw: Any, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)


def test_a_refused_digest_is_never_echoed() -> None:
    # An operator who pastes the key itself instead of its hash must not find it in a log.
    secret = "sk_live_0123456789abcdef"
    for entry in ({"name": "acme", "key_sha256": [secret]}, {"key_sha256": [secret]}):
        with pytest.raises(ConfigError) as caught:
            parse([entry]) if "name" in entry else parse_config(
                {**GOOD, "routing": {"groups": [{**entry, "upstream": "stable"}]}}, base=Path(".")
            )
        assert secret not in str(caught.value)


def test_clients_are_frozen() -> None:
    clients = parse([{"name": "acme", "key_sha256": A}]).clients
    assert isinstance(clients, tuple)
    with pytest.raises(AttributeError):
        clients[0].name = "other"  # type: ignore[misc]
