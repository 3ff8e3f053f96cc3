"""Phase 1 usage and lifecycle headers through a real gateway on loopback."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from gwsupport import ADMIN_TOKEN, Gateway, GatewayFactory
from prometheus_client.parser import text_string_to_metric_families

from shimgw import resources

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ACME = {"name": "acme", "key_sha256": [hashlib.sha256(b"acme-key").hexdigest()]}
BETA = {"name": "beta", "key_sha256": [hashlib.sha256(b"beta-key").hexdigest()]}


async def admin_get(gateway: Gateway, path: str) -> Any:
    async with gateway.session.get(f"{gateway.admin_url}{path}") as resp:
        assert resp.status == 200
        return await resp.json() if path != "/metrics" else await resp.text()


async def usage_metric(gateway: Gateway) -> dict[tuple[str, str], float]:
    text = await admin_get(gateway, "/metrics")
    return {
        (s.labels["operation"], s.labels["client"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "shimgw_phase1_requests"
        for s in family.samples
        if s.name == "shimgw_phase1_requests_total"
    }


async def test_clients_are_counted_by_name_and_everyone_else_as_unnamed(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(clients=[ACME, BETA])
    started = time.time()
    assert (await gateway.call("GET", "/api/v1/jobs/1", key="acme-key")).status == 200
    assert (await gateway.call("GET", "/api/v1/jobs/1", key="acme-key")).status == 200
    assert (await gateway.call("GET", "/api/v1/jobs", key="acme-key")).status == 200
    assert (await gateway.call("GET", "/api/v1/jobs/1", key="stranger")).status == 200
    await gateway.call("GET", "/api/v1/jobs/1", key=None)  # no key at all
    assert (await gateway.call("GET", "/not/a/phase1/path", key="acme-key")).status == 404
    assert await usage_metric(gateway) == {
        ("getJob", "acme"): 2,
        ("listJobs", "acme"): 1,
        ("getJob", "unnamed"): 2,
        ("unmatched", "acme"): 1,
    }
    usage = await admin_get(gateway, "/admin/usage")
    assert set(usage) == {"since", "processes", "clients"}
    assert usage["processes"] == 1  # one process, no other workers' books
    assert list(usage["clients"]) == ["acme", "beta", "unnamed"]
    acme = usage["clients"]["acme"]
    assert (acme["configured"], acme["count"]) == (True, 4)
    assert set(acme["operations"]) == {"getJob", "listJobs", "unmatched"}
    get_job = acme["operations"]["getJob"]
    assert get_job["count"] == 2
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 1)) <= get_job["first_seen"]
    assert get_job["first_seen"] <= get_job["last_seen"] <= acme["last_seen"]
    assert usage["clients"]["beta"] == {
        "configured": True,
        "count": 0,
        "first_seen": None,
        "last_seen": None,
        "operations": {},
    }
    assert usage["clients"]["unnamed"]["operations"]["getJob"]["count"] == 2
    # Names only: no key and no hash anywhere in the answer.
    text = str(usage)
    for secret in ("acme-key", "stranger", ACME["key_sha256"][0]):
        assert secret not in text


async def test_a_reload_keeps_the_counts(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(clients=[ACME, BETA])
    await gateway.call("GET", "/api/v1/jobs/1", key="acme-key")
    await gateway.call("GET", "/api/v1/jobs/1", key="beta-key")
    config = yaml.safe_load(gateway.config_path.read_text())
    config["clients"] = [ACME]  # beta leaves the config
    gateway.write_config(config)
    async with gateway.session.post(f"{gateway.admin_url}/admin/reload", headers=AUTH) as resp:
        assert (resp.status, (await resp.json())["reloaded"]) == (200, True)
    config_shown = await admin_get(gateway, "/admin/config")
    assert config_shown["clients"] == ["acme"]  # names, never their hashes
    assert ACME["key_sha256"][0] not in str(config_shown)
    await gateway.call("GET", "/api/v1/jobs/1", key="acme-key")
    await gateway.call("GET", "/api/v1/jobs/1", key="beta-key")  # unnamed from now on
    clients = (await admin_get(gateway, "/admin/usage"))["clients"]
    assert clients["acme"]["count"] == 2
    assert (clients["beta"]["configured"], clients["beta"]["count"]) == (False, 1)
    assert clients["unnamed"]["count"] == 1
    assert await usage_metric(gateway) == {
        ("getJob", "acme"): 2,
        ("getJob", "beta"): 1,
        ("getJob", "unnamed"): 1,
    }


async def test_lifecycle_headers_on_the_configured_operation_only(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "translations"
    shutil.copytree(resources.translations_dir(), folder)
    doc = yaml.safe_load((folder / "listJobs.yaml").read_text())
    doc["lifecycle"] = {
        "deprecation": "2026-06-01T00:00:00Z",
        "sunset": "2027-06-01T00:00:00Z",
        "link": {"sunset": "https://docs.example.com/phase1-sunset"},
    }
    (folder / "listJobs.yaml").write_text(yaml.safe_dump(doc))
    gateway = await make_gateway(translations=str(folder))
    expected = (
        "@1780272000",
        "Tue, 01 Jun 2027 00:00:00 GMT",
        '<https://docs.example.com/phase1-sunset>; rel="sunset"',
    )
    # Both answers are checked against phase1.yaml by the oracle: the headers are extras.
    for params, status in (({}, 200), ({"page": "0"}, 400)):
        answer = await gateway.call("GET", "/api/v1/jobs", params=params)
        assert answer.status == status
        assert (answer.header("Deprecation"), answer.header("Sunset"), answer.header("Link")) == (
            expected
        )
    other = await gateway.call("GET", "/api/v1/jobs/1")
    assert other.status == 200
    assert (other.header("Deprecation"), other.header("Sunset"), other.header("Link")) == (
        None,
        None,
        None,
    )
