"""A fake /v2 orchestrator that answers as fast as aiohttp can.

Bodies are serialised once and cached, so the upstream spends its time on
HTTP and not on JSON: the benchmark measures the proxies, not this process.
Every body conforms to the Run schema of openapi/phase2.yaml, because shimgw
checks each /v2 answer and would turn a sloppy one into a 502.

Run as `python -m benchmarks.upstream --port P`.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
from aiohttp import web

from benchmarks.serving import run, serve_until_signalled

LIST_SIZE = 20
# POSTs cycle through a bounded id range so their bodies stay cached too.
CREATED_IDS = range(1_000_000, 1_001_000)


def run_doc(n: int, *, state: str = "RUNNING") -> dict[str, Any]:
    """A ~600-byte Run; the parameters and tags are padding toward a realistic size."""
    doc: dict[str, Any] = {
        "id": f"run-{n}",
        "displayName": f"nightly-etl-{n}",
        "plugin": {"id": "spark", "version": "3.5.1"},
        "state": state,
        "priority": 50,
        "labels": {"owner": "bench", "team": "data-platform", "env": "staging"},
        "tags": ["nightly", "etl", "benchmark", "warehouse"],
        "parameters": {
            "input": "s3://bench-bucket/raw/2024/05/01/events/",
            "output": "s3://bench-bucket/curated/2024/05/01/events/",
            "partitions": 64,
            "executors": 8,
            "executorMemory": "4g",
            "dryRun": False,
            "checkpoint": True,
            "compression": "zstd",
        },
        "createTime": "2024-05-01T02:00:00Z",
        "updateTime": "2024-05-01T02:03:17.250Z",
        "etag": f'"{n}-7"',
    }
    if state != "PENDING":
        doc["startTime"] = "2024-05-01T02:00:05Z"
    return doc


@lru_cache(maxsize=4096)
def run_bytes(n: int, state: str = "RUNNING") -> bytes:
    return orjson.dumps(run_doc(n, state=state))


LIST_BYTES = orjson.dumps(
    {"runs": [run_doc(n) for n in range(LIST_SIZE, 0, -1)], "totalSize": LIST_SIZE}
)
HEALTH_BYTES = orjson.dumps({"status": "SERVING"})
NOT_FOUND_BYTES = orjson.dumps({"type": "about:blank", "title": "Not Found", "status": 404})


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def get_run(request: web.Request) -> web.Response:
    digits = request.match_info["run_id"].removeprefix("run-")
    if not digits.isdigit() or len(digits) > 18:
        return web.Response(
            body=NOT_FOUND_BYTES, status=404, content_type="application/problem+json"
        )
    return _json(run_bytes(int(digits)))


async def list_runs(request: web.Request) -> web.Response:
    return _json(LIST_BYTES)


async def health(request: web.Request) -> web.Response:
    return _json(HEALTH_BYTES)


def build_app() -> web.Application:
    ids = itertools.cycle(CREATED_IDS)

    async def create_run(request: web.Request) -> web.Response:
        await request.read()  # drain the body, as a real server would, but do not check it
        n = next(ids)
        return _json(run_bytes(n, "PENDING"), 202, {"Location": f"/v2/runs/run-{n}"})

    app = web.Application()
    app.router.add_get("/v2/runs/{run_id}", get_run)
    app.router.add_get("/v2/runs", list_runs)
    app.router.add_post("/v2/runs", create_run)
    app.router.add_get("/v2/health", health)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    run(serve_until_signalled(build_app, args.host, args.port))


if __name__ == "__main__":
    main()
