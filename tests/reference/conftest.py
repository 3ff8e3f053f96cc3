"""Fixtures for the reference orchestrator: one seeded store behind two instances."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from shimgw.reference import RunStore, build_app, seed_demo


@pytest.fixture
def store() -> RunStore:
    return seed_demo(RunStore())


@pytest.fixture
async def stable(aiohttp_client: AiohttpClient, store: RunStore) -> TestClient:
    return await aiohttp_client(build_app(store, "stable"))


@pytest.fixture
async def canary(aiohttp_client: AiohttpClient, store: RunStore) -> TestClient:
    return await aiohttp_client(build_app(store, "canary"))
