"""/readyz (admin listener) and the SIGTERM drain: ready only when an arm with weight > 0
passed its last health probe; on SIGTERM not ready at once while the listener keeps serving
`shutdown.drain_s`; /healthz stays liveness only."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from gwsupport import Gateway, GatewayFactory
from test_cli import SHIMGW, get_json, serve_config, wait_http

from shimgw.reference import Health, RunStore


async def readyz(gateway: Gateway) -> tuple[int, Any]:
    async with gateway.session.get(f"{gateway.admin_url}/readyz") as resp:
        return resp.status, await resp.json()


async def test_ready_when_a_weighted_arm_passed_its_probe(gateway: Gateway) -> None:
    status, body = await readyz(gateway)
    assert status == 200 and body["status"] == "ready"


async def test_not_ready_when_every_weighted_arm_fails_its_probe(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    # The canary answers its probe but carries no weight: it does not make the gateway ready.
    store.instance_health["stable"] = Health("NOT_SERVING", {})
    gateway = await make_gateway({"stable": 1, "canary": 0})
    status, body = await readyz(gateway)
    assert status == 503
    assert body["reason"] == (
        "no arm with weight > 0 passed its last health probe (stable: last probe failed)"
    )
    async with gateway.session.get(f"{gateway.admin_url}/healthz") as resp:
        assert resp.status == 200  # alive all the same: restarting it would not help
    # The orchestrator recovers; the next probe round makes the gateway ready.
    del store.instance_health["stable"]
    await gateway.service._probe_round()
    assert (await readyz(gateway))[0] == 200


async def test_a_rolled_back_arm_does_not_count(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    store.instance_health["stable"] = Health("NOT_SERVING", {})
    gateway = await make_gateway({"stable": 1, "canary": 1})
    assert (await readyz(gateway))[0] == 200  # the canary passed
    runtime = gateway.service.runtime
    runtime.rollback.disabled = frozenset({"canary"})  # as an automatic rollback leaves it
    status, body = await readyz(gateway)
    assert status == 503 and "(stable: last probe failed)" in body["reason"]


async def test_sigterm_turns_readyz_503_at_once_and_keeps_serving_the_drain(
    tmp_path: Path, reference: dict[str, str]
) -> None:
    port, admin_port, _, path = serve_config(
        tmp_path,
        reference,
        shutdown={"drain_s": 2.0, "grace_s": 5},
        logging={"level": "info", "access": False},
    )
    proc = subprocess.Popen(
        [*SHIMGW, "serve", "--config", str(path)], stderr=subprocess.PIPE, text=True
    )
    admin = f"http://127.0.0.1:{admin_port}"
    job = f"http://127.0.0.1:{port}/api/v1/jobs/1"
    try:
        await wait_http(f"{admin}/healthz")
        assert (await get_json(f"{admin}/readyz"))[0] == 200
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.3)
        status, body = await get_json(f"{admin}/readyz")
        assert (status, body["reason"]) == (503, "shutting down")
        assert (await get_json(f"{admin}/healthz"))[0] == 200
        # Still serving Phase 1 during the drain (new connections, not just kept ones).
        assert (await get_json(job, headers={"X-Api-Key": "k"}))[0] == 200
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert took >= 2.0, "stopped before shutdown.drain_s"
    assert '"msg":"draining: /readyz answers 503"' in err
