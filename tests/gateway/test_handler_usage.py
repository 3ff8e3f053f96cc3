"""Phase 1 usage through the handler, without sockets: who is counted under which name,
and the routing key hashed once per request whatever matches on it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from handler_support import Harness, demo_run

from shimgw.exchange import Exchange
from shimgw.routing import canary

ACME = hashlib.sha256(b"acme-key").hexdigest()
CLIENTS = [{"name": "acme", "key_sha256": [ACME]}]


@pytest.mark.parametrize(
    ("method", "path", "headers", "counted_as"),
    [
        ("GET", "/api/v1/jobs/1", {"X-Api-Key": "acme-key"}, ("getJob", "acme")),
        ("GET", "/api/v1/jobs/1", {"X-Api-Key": "someone-else"}, ("getJob", "unnamed")),
        ("GET", "/api/v1/jobs/1", {"X-Api-Key": ""}, ("getJob", "unnamed")),
        ("GET", "/api/v1/jobs/x", {"X-Api-Key": "acme-key"}, ("getJob", "acme")),  # its 400
        ("GET", "/api/v1/jobs/1/stats", {"X-Api-Key": "acme-key"}, ("getJobStats", "acme")),
        ("GET", "/api/v2/secret-path", {"X-Api-Key": "acme-key"}, ("unmatched", "acme")),
        ("PATCH", "/api/v1/jobs/1", {}, ("unmatched", "unnamed")),  # 405
    ],
)
async def test_each_request_is_counted_once_under_its_client(
    make_harness: Callable[..., Harness],
    method: str,
    path: str,
    headers: dict[str, str],
    counted_as: tuple[str, str],
) -> None:
    h = make_harness(clients=CLIENTS)
    h.upstream.reply = demo_run()
    await h.call(method, path, headers=headers)
    operation, client = counted_as
    assert h.metric("shimgw_phase1_requests_total", operation=operation, client=client) == 1
    described = h.runtime.usage.describe(h.runtime.current.config.clients)["clients"]
    assert sum(c["count"] for c in described.values()) == 1
    assert described[client]["operations"][operation]["count"] == 1


async def test_clients_are_named_by_the_routing_key_and_no_key_is_unnamed(
    make_harness: Callable[..., Harness],
) -> None:
    # As for key_sha256 groups, the hash is of the value `routing.key` names.
    h = make_harness(clients=CLIENTS, routing={"key": "header:X-Tenant"})
    h.upstream.reply = demo_run()
    await h.call("GET", "/api/v1/jobs/1", headers={"X-Tenant": "acme-key"})
    await h.call("GET", "/api/v1/jobs/1", headers={"X-Api-Key": "acme-key"})  # no X-Tenant
    assert h.metric("shimgw_phase1_requests_total", operation="getJob", client="acme") == 1
    assert h.metric("shimgw_phase1_requests_total", operation="getJob", client="unnamed") == 1


async def test_the_key_is_hashed_once_per_request(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two key groups and a named client all match on the same digest: one SHA-256.
    other = hashlib.sha256(b"other").hexdigest()
    h = make_harness(
        clients=CLIENTS,
        routing={
            "groups": [
                {"name": "g1", "key_sha256": [other], "upstream": "stable"},
                {"name": "g2", "key_sha256": [ACME], "upstream": "stable"},
            ]
        },
    )
    h.upstream.reply = demo_run()
    hashed: list[bytes] = []
    real = canary.hashlib.sha256

    def counting(data: bytes = b"") -> Any:
        hashed.append(data)
        return real(data)

    monkeypatch.setattr(canary.hashlib, "sha256", counting)
    assert (await h.call("GET", "/api/v1/jobs/1", headers={"X-Api-Key": "acme-key"})).status == 200
    assert hashed == [b"acme-key"]
    assert h.metric("shimgw_phase1_requests_total", operation="getJob", client="acme") == 1


async def test_without_clients_or_key_groups_nothing_is_hashed(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness()
    h.upstream.reply = demo_run()
    hashed: list[bytes] = []
    real = canary.hashlib.sha256
    monkeypatch.setattr(canary.hashlib, "sha256", lambda d=b"": hashed.append(d) or real(d))
    assert (await h.call("GET", "/api/v1/jobs/1", headers={"X-Api-Key": "acme-key"})).status == 200
    assert hashed == []
    assert h.metric("shimgw_phase1_requests_total", operation="getJob", client="unnamed") == 1


async def test_neither_key_nor_hash_reaches_a_label_or_a_log(
    make_harness: Callable[..., Harness], lines: Any
) -> None:
    h = make_harness(clients=CLIENTS)
    h.upstream.reply = demo_run()
    await h.call("GET", "/api/v1/jobs/1", headers={"X-Api-Key": "acme-key"})
    await h.call("GET", "/nowhere", headers={"X-Api-Key": "acme-key"})
    exposition = h.runtime.metrics.exposition().decode()
    logged = "".join(str(r.__dict__) for r in lines.records) + "".join(
        str(line) for line in h.access_lines()
    )
    for text in (exposition, logged):
        assert "acme-key" not in text and ACME not in text


def test_the_exchange_repr_shows_neither_key_nor_hash() -> None:
    ex = Exchange(rid="r", method="GET", path="/p", started=0.0)
    ex.key, ex.digest = "acme-key", ACME
    assert "acme-key" not in repr(ex) and ACME not in repr(ex)
