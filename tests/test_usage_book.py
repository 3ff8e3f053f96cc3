"""The usage book without sockets: who called which operation, how often, first and last."""

from __future__ import annotations

import hashlib

import pytest
from prometheus_client import CollectorRegistry, Counter

from shimgw.config import ClientConfig
from shimgw.usage import UNMATCHED, UNNAMED, UsageBook, rfc3339

A = hashlib.sha256(b"key-a").hexdigest()
A2 = hashlib.sha256(b"key-a-rotated").hexdigest()
B = hashlib.sha256(b"key-b").hexdigest()
OPS = ("getJob", "listJobs")
T0 = 1_800_000_000.0


def book() -> tuple[UsageBook, CollectorRegistry]:
    registry = CollectorRegistry()
    counter = Counter("shimgw_phase1_requests", "x", ["operation", "client"], registry=registry)
    return UsageBook(counter, started=T0), registry


def sample(registry: CollectorRegistry, operation: str, client: str) -> float | None:
    return registry.get_sample_value(
        "shimgw_phase1_requests_total", {"operation": operation, "client": client}
    )


CLIENTS = (ClientConfig("acme", frozenset({A, A2})), ClientConfig("beta", frozenset({B})))


@pytest.mark.parametrize(
    ("operation", "digest", "counted_as"),
    [
        ("getJob", A, ("getJob", "acme")),
        ("getJob", A2, ("getJob", "acme")),  # a client's second (rotated) key
        ("listJobs", B, ("listJobs", "beta")),
        ("getJob", hashlib.sha256(b"stranger").hexdigest(), ("getJob", UNNAMED)),
        ("getJob", None, ("getJob", UNNAMED)),  # no key at all
        ("-", A, (UNMATCHED, "acme")),  # no route matched: never the path
        ("deleteEverything", None, (UNMATCHED, UNNAMED)),
    ],
)
def test_a_request_is_counted_once_under_its_client(
    operation: str, digest: str | None, counted_as: tuple[str, str]
) -> None:
    usage, registry = book()
    slots = usage.slots(CLIENTS, OPS)
    slots.count(operation, digest, T0 + 1)
    assert sample(registry, *counted_as) == 1
    total = sum(
        sample(registry, op, c) or 0 for op in (*OPS, UNMATCHED) for c in ("acme", "beta", UNNAMED)
    )
    assert total == 1


def test_pairs_never_seen_export_no_series() -> None:
    usage, registry = book()
    usage.slots(CLIENTS, OPS).count("getJob", A, T0)
    assert sample(registry, "listJobs", "beta") is None
    assert sample(registry, "getJob", UNNAMED) is None


def test_describe_lists_clients_operations_first_and_last_seen() -> None:
    usage, _ = book()
    slots = usage.slots(CLIENTS, OPS)
    slots.count("getJob", A, T0 + 10)
    slots.count("getJob", A2, T0 + 20)
    slots.count("listJobs", A, T0 + 15)
    slots.count("-", None, T0 + 30)
    described = usage.describe(CLIENTS)
    assert described["since"] == rfc3339(T0)
    acme = described["clients"]["acme"]
    assert acme == {
        "configured": True,
        "count": 3,
        "first_seen": rfc3339(T0 + 10),
        "last_seen": rfc3339(T0 + 20),
        "operations": {
            "getJob": {"count": 2, "first_seen": rfc3339(T0 + 10), "last_seen": rfc3339(T0 + 20)},
            "listJobs": {
                "count": 1,
                "first_seen": rfc3339(T0 + 15),
                "last_seen": rfc3339(T0 + 15),
            },
        },
    }
    # A configured client that never called is listed: that is what a sunset review asks.
    assert described["clients"]["beta"] == {
        "configured": True,
        "count": 0,
        "first_seen": None,
        "last_seen": None,
        "operations": {},
    }
    assert described["clients"][UNNAMED]["operations"] == {
        UNMATCHED: {"count": 1, "first_seen": rfc3339(T0 + 30), "last_seen": rfc3339(T0 + 30)}
    }
    assert list(described["clients"]) == ["acme", "beta", UNNAMED]


def test_counts_survive_a_reload_and_a_removed_client_keeps_its_own() -> None:
    usage, registry = book()
    first = usage.slots(CLIENTS, OPS)
    first.count("getJob", A, T0 + 1)
    first.count("getJob", B, T0 + 2)
    # Reload: beta leaves the config, acme stays, gamma arrives with beta's old key.
    reloaded = (CLIENTS[0], ClientConfig("gamma", frozenset({B})))
    second = usage.slots(reloaded, OPS)
    second.count("getJob", A, T0 + 3)
    second.count("getJob", B, T0 + 4)
    first.count("getJob", B, T0 + 5)  # a request still finishing on the old snapshot
    described = usage.describe(reloaded)["clients"]
    assert described["acme"]["count"] == 2
    assert described["beta"] == {**described["beta"], "configured": False, "count": 2}
    assert described["gamma"]["count"] == 1
    assert sample(registry, "getJob", "acme") == 2
    assert sample(registry, "getJob", "beta") == 2  # a counter never goes back


def test_memory_is_bounded_by_clients_and_operations() -> None:
    usage, _ = book()
    slots = usage.slots(CLIENTS, OPS)
    for i in range(2000):
        slots.count(f"op{i}", hashlib.sha256(str(i).encode()).hexdigest(), T0 + i)
    # (2 named + unnamed) × (2 operations + unmatched), however many keys and paths came.
    assert usage.cells == 3 * 3


def test_rfc3339_is_utc_seconds() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(T0 + 0.9) == "2027-01-15T08:00:00Z"
