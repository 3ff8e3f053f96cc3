"""`shimgw demo`: the gateway in front of the reference orchestrator, ready for curl.

Two reference instances (stable and canary) share one seeded store; the
gateway's config is written to a temporary file, so editing it (or sending
SIGHUP, or POST /admin/reload) shows a live reload.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import yaml

from shimgw.reference import RunStore, seed_demo, start_reference, stop_reference
from shimgw.runtime import Runtime
from shimgw.service import Service, run_until_signalled


def demo_config(stable_url: str, canary_url: str, port: int, admin_port: int) -> dict[str, object]:
    return {
        "listen": {"host": "127.0.0.1", "port": port},
        "upstreams": {
            "stable": {"url": stable_url, "weight": 90},
            "canary": {"url": canary_url, "weight": 10},
        },
        "timeouts": {"connect": 2, "total": 10},
        "admin": {"host": "127.0.0.1", "port": admin_port, "token_env": "SHIMGW_ADMIN_TOKEN"},
        "logging": {"level": "info", "access": True},
    }


async def run_demo(port: int, admin_port: int, reference_ports: tuple[int, int]) -> None:
    from shimgw.observe import setup_logging

    setup_logging("info")
    store = seed_demo(RunStore())
    instances = await start_reference(
        store, [("stable", reference_ports[0]), ("canary", reference_ports[1])]
    )
    token = os.environ.setdefault("SHIMGW_ADMIN_TOKEN", secrets.token_hex(16))
    folder = Path(tempfile.mkdtemp(prefix="shimgw-demo-"))
    config_path = folder / "shimgw.yaml"
    config_path.write_text(
        yaml.safe_dump(
            demo_config(instances[0].url, instances[1].url, port, admin_port), sort_keys=False
        )
    )
    service = Service(Runtime.from_file(config_path))

    async def announce() -> None:
        base = f"http://127.0.0.1:{service.port}"
        admin = f"http://127.0.0.1:{service.admin_port}"
        print(
            f"""
shimgw demo: gateway {base} → reference orchestrator stable {instances[0].url},
canary {instances[1].url} (90/10). Config: {config_path} (edit it: reloads live).

  curl -s {base}/api/v1/status
  curl -s -H 'X-Api-Key: demo' {base}/api/v1/jobs/1
  curl -s -H 'X-Api-Key: demo' '{base}/api/v1/jobs?status=QUEUED&per_page=5'
  curl -s -H 'X-Api-Key: demo' -H 'Content-Type: application/json' \\
       -d '{{"name":"nightly","engine":"spark","owner":"ana","priority":"high"}}' {base}/api/v1/jobs
  curl -s -H 'X-Api-Key: demo' {base}/api/v1/jobs/3/logs
  curl -s -H 'X-Api-Key: demo' {base}/api/v1/engines
  curl -si -H 'X-Api-Key: demo' {base}/api/v1/jobs/1/stats
  curl -s {admin}/admin/status
  curl -s -X POST -H 'Authorization: Bearer {token}' {admin}/admin/reload

Ctrl-C stops.
""",
            flush=True,
            file=sys.stdout,
        )

    original_start = service.start

    async def start_and_announce() -> None:
        await original_start()
        await announce()

    service.start = start_and_announce  # type: ignore[method-assign]
    try:
        await run_until_signalled(service)
    finally:
        await stop_reference(instances)
