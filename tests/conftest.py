"""Shared fixtures: the reference orchestrator, a gateway on loopback, and the Phase 1 oracle.

Integration tests talk real HTTP: client → gateway (port 0) → reference
orchestrator instances (port 0), which check every call against phase2.yaml.
Every Phase 1 answer is checked against phase1.yaml by openapi-core, and a
test fails if the orchestrator saw any contract violation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from gwsupport import ADMIN_TOKEN, REPO, Gateway, GatewayFactory, base_config

from shimgw.reference import RunStore, seed_demo, start_reference, stop_reference
from shimgw.reference.contract import Contract
from shimgw.reference.contract import load_contract as load_oracle
from shimgw.runtime import Runtime
from shimgw.service import Service


@pytest.fixture(scope="session")
def phase1_oracle() -> Contract:
    return load_oracle(REPO / "openapi" / "phase1.yaml")


@pytest.fixture
def store() -> RunStore:
    return seed_demo(RunStore())


@pytest.fixture
async def reference(store: RunStore) -> AsyncIterator[dict[str, str]]:
    instances = await start_reference(store, [("stable", 0), ("canary", 0)])
    yield {i.name: i.url for i in instances}
    await stop_reference(instances)


@pytest.fixture
async def make_gateway(
    reference: dict[str, str],
    store: RunStore,
    tmp_path: Path,
    phase1_oracle: Contract,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[GatewayFactory]:
    monkeypatch.setenv("SHIMGW_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
    started: list[Gateway] = []
    session = aiohttp.ClientSession()

    async def factory(weights: dict[str, int] | None = None, **overrides: Any) -> Gateway:
        weights = weights or {"stable": 1}
        config = base_config({n: (reference[n], w) for n, w in weights.items()}, **overrides)
        path = tmp_path / f"shimgw-{len(started)}.yaml"
        path.write_text(yaml.safe_dump(config))
        service = Service(Runtime.from_file(path))
        await service.start()
        gateway = Gateway(
            f"http://127.0.0.1:{service.port}",
            f"http://127.0.0.1:{service.admin_port}" if service.admin_port else None,
            service,
            path,
            store,
            phase1_oracle,
            session,
            dict(reference),
        )
        started.append(gateway)
        return gateway

    yield factory
    for gateway in started:
        await gateway.service.stop()
    await session.close()
    assert not store.violations, f"the orchestrator saw contract violations: {store.violations}"


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway()
