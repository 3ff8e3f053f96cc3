"""The canary split: shares, stickiness, monotonic raises, groups and routes."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shimgw.config import RoutingConfig, parse_config
from shimgw.routing.canary import BUCKETS, Layout, Picker, bucket_of, key_digest

KEYS = [f"api-key-{i:05d}" for i in range(2000)]


def routing(**raw: Any) -> RoutingConfig:
    config = parse_config(
        {
            "upstreams": {
                "stable": {"url": "http://s", "weight": 1},
                "canary": {"url": "http://c"},
                "other": {"url": "http://o"},
            },
            "routing": raw,
        },
        base=Path("."),
    )
    return config.routing


def picker(weights: dict[str, int], **raw: Any) -> Picker:
    return Picker(routing(**raw), weights)


def shares(p: Picker, headers: dict[str, str] | None = None) -> Counter[str]:
    return Counter(p.choose("getJob", {"x-api-key": k, **(headers or {})}, None) for k in KEYS)


@pytest.mark.parametrize("canary", [5, 20, 50, 80])
def test_shares_follow_weights(canary: int) -> None:
    counts = shares(picker({"stable": 100 - canary, "canary": canary}))
    observed = 100 * counts["canary"] / len(KEYS)
    assert abs(observed - canary) <= 3, observed


def test_three_way_shares() -> None:
    counts = shares(picker({"stable": 50, "canary": 30, "other": 20}))
    for name, weight in (("stable", 50), ("canary", 30), ("other", 20)):
        assert abs(100 * counts[name] / len(KEYS) - weight) <= 3


def test_sticky_across_pickers_and_processes() -> None:
    a, b = picker({"stable": 70, "canary": 30}), picker({"stable": 70, "canary": 30})
    first = [a.choose("getJob", {"x-api-key": k}, None) for k in KEYS]
    assert first == [a.choose("getJob", {"x-api-key": k}, None) for k in KEYS]
    assert first == [b.choose("listJobs", {"x-api-key": k}, None) for k in KEYS]
    # blake2b, not hash(): a fixed key lands in a fixed bucket in every process.
    assert bucket_of("shimgw", "api-key-00000") == bucket_of("shimgw", "api-key-00000")
    assert 0 <= bucket_of("s", "k") < BUCKETS and BUCKETS >= 10000


def test_salt_reshuffles() -> None:
    plain, salted = (
        picker({"stable": 1, "canary": 1}),
        picker({"stable": 1, "canary": 1}, salt="other"),
    )
    a = [plain.choose("x", {"x-api-key": k}, None) for k in KEYS]
    b = [salted.choose("x", {"x-api-key": k}, None) for k in KEYS]
    assert a != b


def test_raising_canary_only_moves_clients_onto_it() -> None:
    layout = Layout.build("shimgw", ("canary", "other", "stable"))
    steps = [
        {"stable": 95, "canary": 5, "other": 10},
        {"stable": 95, "canary": 25, "other": 10},
        {"stable": 95, "canary": 60, "other": 10},
        {"stable": 95, "canary": 100, "other": 10},
        {"stable": 95, "canary": 1000, "other": 10},
    ]
    tables = [layout.table(w) for w in steps]
    for before, after in zip(tables, tables[1:], strict=False):
        for old, new in zip(before, after, strict=True):
            assert old == new or new == "canary", (old, new)


def test_lowering_canary_only_moves_clients_off_it() -> None:
    layout = Layout.build("shimgw", ("canary", "stable"))
    before, after = (
        layout.table({"stable": 50, "canary": 50}),
        layout.table({"stable": 50, "canary": 10}),
    )
    assert all(old == new or old == "canary" for old, new in zip(before, after, strict=True))


def test_all_to_one_and_zero_weights() -> None:
    assert set(shares(picker({"stable": 0, "canary": 1}))) == {"canary"}
    assert set(shares(picker({"stable": 1, "canary": 0}))) == {"stable"}


def test_no_key_is_random_but_by_weight() -> None:
    p = picker({"stable": 80, "canary": 20})
    counts = Counter(p.choose("getJob", {}, None) for _ in range(4000))
    assert 15 <= 100 * counts["canary"] / 4000 <= 25


def test_client_address_key() -> None:
    p = picker({"stable": 50, "canary": 50}, key="client_address")
    arms = {p.choose("getJob", {"x-api-key": k}, "10.0.0.1") for k in KEYS[:50]}
    assert len(arms) == 1


def test_other_header_key() -> None:
    p = picker({"stable": 50, "canary": 50}, key="header:X-Tenant")
    arms = {p.choose("getJob", {"x-api-key": k, "x-tenant": "t1"}, None) for k in KEYS[:50]}
    assert len(arms) == 1


def test_route_override() -> None:
    p = picker({"stable": 10, "canary": 90}, routes={"createJob": {"stable": 1}})
    assert {p.choose("createJob", {"x-api-key": k}, None) for k in KEYS} == {"stable"}
    assert "canary" in {p.choose("getJob", {"x-api-key": k}, None) for k in KEYS}


def test_group_over_route_over_default() -> None:
    partner = "partner-key"
    p = picker(
        {"stable": 50, "canary": 50},
        routes={"getJob": {"stable": 1}},
        groups=[
            {
                "name": "internal",
                "header": "X-Client-Group",
                "values": ["internal"],
                "upstream": "canary",
            },
            {
                "name": "fragile",
                "upstream": "stable",
                "key_sha256": [hashlib.sha256(partner.encode()).hexdigest()],
            },
        ],
    )
    # Group (by header) beats the route.
    assert set(shares(p, {"x-client-group": "internal"})) == {"canary"}
    # Route beats the default.
    assert set(shares(p)) == {"stable"}
    # Group by API key hash: the fragile partner never sees the canary.
    assert {p.choose("listJobs", {"x-api-key": partner}, None) for _ in range(50)} == {"stable"}
    assert "canary" in {p.choose("listJobs", {"x-api-key": k}, None) for k in KEYS}


def test_disabled_upstreams_fall_back() -> None:
    p = picker({"stable": 50, "canary": 50})
    assert set(
        Counter(p.choose("getJob", {"x-api-key": k}, None, frozenset({"canary"})) for k in KEYS)
    ) == {"stable"}
    only_canary = picker({"stable": 0, "canary": 1})
    assert {
        only_canary.choose("x", {"x-api-key": k}, None, frozenset({"canary"})) for k in KEYS[:20]
    } == {"stable"}


@pytest.mark.parametrize(
    ("routing_key", "headers", "client", "in_group"),
    [
        # The group hashes the routing key the config names, not always X-Api-Key.
        ("header:X-Tenant", {"x-tenant": "acme", "x-api-key": "someone"}, None, True),
        ("header:X-Tenant", {"x-api-key": "acme"}, None, False),
        ("header:X-Tenant", {}, None, False),
        ("header:X-Api-Key", {"x-api-key": "acme"}, None, True),
        ("client_address", {"x-api-key": "acme"}, "10.0.0.9", False),
        ("client_address", {}, "acme", True),
    ],
)
def test_key_sha256_groups_hash_the_routing_key(
    routing_key: str, headers: dict[str, str], client: str | None, in_group: bool
) -> None:
    p = picker(
        {"stable": 1, "canary": 0},
        key=routing_key,
        groups=[{"key_sha256": [hashlib.sha256(b"acme").hexdigest()], "upstream": "canary"}],
    )
    picked = {p.choose("getJob", headers, client) for _ in range(20)}
    assert picked == ({"canary"} if in_group else {"stable"})


def test_pick_takes_the_digest_it_is_given() -> None:
    # The handler hashes the routing key once and hands the digest in: `pick` never hashes.
    acme = hashlib.sha256(b"acme").hexdigest()
    p = picker(
        {"stable": 1, "canary": 0},
        groups=[{"key_sha256": [acme], "upstream": "canary"}],
    )
    assert p.hashes_keys
    assert p.pick("getJob", {}, "acme", acme) == "canary"
    assert p.pick("getJob", {}, "acme", None) == "stable"  # no digest: in no key group
    assert p.group_of({}, acme) is not None and p.group_of({}, None) is None
    assert not picker({"stable": 1}).hashes_keys
    assert key_digest("acme") == acme
    assert key_digest("\udcff") == hashlib.sha256(b"\xed\xb3\xbf").hexdigest()  # undecodable


def test_one_arm_takes_every_key_without_hashing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    real = bucket_of

    def counting(salt: str, key: str) -> int:
        hashed.append(key)
        return real(salt, key)

    monkeypatch.setattr("shimgw.routing.canary.bucket_of", counting)
    p = picker({"stable": 1, "canary": 0}, routes={"listJobs": {"canary": 1}})
    assert set(shares(p)) == {"stable"} and hashed == []
    assert p.choose("listJobs", {"x-api-key": "k"}, None) == "canary" and hashed == []
    split = picker({"stable": 50, "canary": 50})
    assert set(shares(split)) == {"stable", "canary"} and len(hashed) == len(KEYS)
