"""`shimgw demo`: a cutover on one machine — legacy backend, gateway, /v2 stable and canary.

The reference legacy Phase 1 backend serves every client at first (weight
100); two reference /v2 instances (stable and canary) share one seeded store
and start at weight 0, and every getJob/listJobs is shadowed to stable and
compared (`shimgw diffs`). The legacy backend carries one known disagreement
(it writes "unknown" as the owner of a job without one) for the diffs to
find. The gateway's config and a copy of the translations live in a
temporary folder, so editing either (or SIGHUP, or POST /admin/reload) shows
a live reload: fix the mapping, move a group, raise the weight.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from shimgw import resources
from shimgw.reference import RunStore, seed_demo, start_reference, stop_reference
from shimgw.reference.legacy import start_legacy
from shimgw.reference.legacy_store import LegacyStore, seed_legacy
from shimgw.runtime import Runtime
from shimgw.service import Service, run_until_signalled

DISAGREEMENT = "unknown"  # what the demo's legacy backend writes for a job without an owner


def demo_config(
    legacy_url: str, stable_url: str, canary_url: str, port: int, admin_port: int
) -> dict[str, object]:
    return {
        "listen": {"host": "127.0.0.1", "port": port},
        "upstreams": {
            "legacy": {"url": legacy_url, "protocol": "phase1", "weight": 100},
            "stable": {"url": stable_url, "weight": 0},
            "canary": {"url": canary_url, "weight": 0},
        },
        "translations": "translations",
        "routing": {
            "groups": [
                {
                    "name": "internal",
                    "header": "X-Client-Group",
                    "values": ["internal"],
                    "weights": {"legacy": 1},
                }
            ],
            "shadow": [{"operations": ["getJob", "listJobs"], "to": "stable", "sample": 1.0}],
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
    legacy = await start_legacy(seed_legacy(LegacyStore()), missing_owner=DISAGREEMENT)
    token = os.environ.setdefault("SHIMGW_ADMIN_TOKEN", secrets.token_hex(16))
    folder = Path(tempfile.mkdtemp(prefix="shimgw-demo-"))
    shutil.copytree(resources.translations_dir(), folder / "translations")
    config_path = folder / "shimgw.yaml"
    config = demo_config(legacy.url, instances[0].url, instances[1].url, port, admin_port)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    service = Service(Runtime.from_file(config_path))

    async def announce() -> None:
        base = f"http://127.0.0.1:{service.port}"
        admin = f"http://127.0.0.1:{service.admin_port}"
        print(
            f"""
shimgw demo: gateway {base} → legacy Phase 1 backend {legacy.url} (weight 100),
/v2 stable {instances[0].url} and canary {instances[1].url} (weight 0).
getJob and listJobs are shadowed to stable and compared: shimgw diffs --admin {admin}
Config: {config_path}, translations: {folder / "translations"} (edit: reloads live).

  curl -s {base}/api/v1/status
  curl -s -H 'X-Api-Key: demo' {base}/api/v1/jobs/1
  curl -s -H 'X-Api-Key: demo' '{base}/api/v1/jobs?status=QUEUED&per_page=5'
  curl -s -H 'X-Api-Key: demo' -H 'Content-Type: application/json' \\
       -d '{{"name":"nightly","engine":"spark","owner":"ana","priority":"high"}}' {base}/api/v1/jobs
  curl -s -H 'X-Api-Key: demo' {base}/api/v1/jobs/3/logs
  curl -s -H 'X-Api-Key: demo' {base}/api/v1/engines
  curl -si -H 'X-Api-Key: demo' {base}/api/v1/jobs/1/stats
  curl -s {admin}/admin/status
  shimgw diffs --admin {admin}
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
        await legacy.stop()
