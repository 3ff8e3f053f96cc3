"""The reference legacy backend: a native Phase 1 server (openapi/phase1.yaml), no /v2 behind.

It plays the system the gateway replaces, so a cutover can be rehearsed on
one machine: the gateway's legacy arm passes calls through to it unchanged,
and shadow comparison compares its answers with the translated /v2 ones.
Like the /v2 reference it is a test oracle first: every request is recorded
(`store.seen`, headers and body as received) and, unless `check_contract` is
off, checked against phase1.yaml with openapi-core, and so is every answer
it produces (`store.violations`). Its semantics follow the /v2 reference
seen through the mapping (cancel/delete/priority conflicts, newest first),
so the two agree wherever MAPPING.md says they should.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from shimgw import jsoncodec, resources
from shimgw.reference.contract import Contract, RequestInfo, load_contract
from shimgw.reference.legacy_store import Job, LegacyStore, seed_legacy
from shimgw.reference.server import until_signalled
from shimgw.reference.store import SeenRequest, Violation, record_seen

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
_STATUSES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED")
_DEPRECATION = {"Deprecation": "@1767225600", "Sunset": "Fri, 01 Jan 2027 00:00:00 GMT"}


@dataclass(frozen=True)
class Legacy:
    store: LegacyStore
    contract: Contract
    check_contract: bool
    missing_owner: str


LEGACY = web.AppKey("legacy", Legacy)
REQUEST_ID = web.AppKey("request_id", str)


class Answer(Exception):
    """Raised by a handler to answer with a Phase 1 error."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _rid(request: web.Request) -> str:
    supplied = request.headers.get("X-Request-ID", "")
    return supplied if _REQUEST_ID.match(supplied) else secrets.token_hex(16)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=jsoncodec.dumps(doc), content_type="application/json")


def _job(request: web.Request) -> Job:
    legacy = request.app[LEGACY]
    raw = request.match_info["job_id"]
    job = legacy.store.jobs.get(int(raw)) if raw.isdigit() else None
    if job is None:
        raise Answer(404, f"job {raw} not found")
    return job


def _render(request: web.Request, job: Job, status: int = 200) -> web.Response:
    return _json(job.to_json(request.app[LEGACY].missing_owner), status)


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Answer(400, f"query parameter '{name}': expected an integer {low}..{high}")
    return int(raw)


# --- operations -----------------------------------------------------------------------


async def create_job(request: web.Request) -> web.StreamResponse:
    store = request.app[LEGACY].store
    try:
        doc = jsoncodec.loads(await request.read())
        name, engine, owner = doc["name"], doc["engine"], doc["owner"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Answer(400, "body: expected a JSON object with name, engine and owner") from exc
    if engine not in store.engines:
        raise Answer(400, f"no enabled engine {engine}")
    now = int(time.time())
    job = store.add(
        Job(
            job_id=store.next_id(),
            name=name,
            engine=engine,
            owner=owner,
            status="QUEUED",
            priority=doc.get("priority", "normal"),
            created=now,
            updated=now,
            params=dict(doc.get("params", {})),
            tags=list(doc.get("tags", [])),
            callback_url=doc.get("callback_url"),
        )
    )
    return _render(request, job, 201)


async def list_jobs(request: web.Request) -> web.StreamResponse:
    status = request.query.get("status")
    if status is not None and status not in _STATUSES:
        raise Answer(400, f"query parameter 'status': {status!r} is not a job status")
    owner = request.query.get("owner")
    page = _int_query(request, "page", 1, 1, 10000)
    per_page = _int_query(request, "per_page", 20, 1, 100)
    legacy = request.app[LEGACY]
    matching = [
        job
        for job in legacy.store.newest_first()
        if (status is None or job.status == status) and (owner is None or job.owner == owner)
    ]
    start = (page - 1) * per_page
    jobs = [j.to_json(legacy.missing_owner) for j in matching[start : start + per_page]]
    return _json({"jobs": jobs, "page": page, "per_page": per_page, "total": len(matching)})


async def get_job(request: web.Request) -> web.StreamResponse:
    return _render(request, _job(request))


async def delete_job(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if not job.terminal:
        raise Answer(409, f"job {job.job_id} is {job.status}; only finished jobs can be deleted")
    request.app[LEGACY].store.delete(job.job_id)
    return web.Response(status=204)


async def cancel_job(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if job.terminal:
        raise Answer(409, f"job {job.job_id} is already {job.status}")
    now = int(time.time())
    if job.status == "QUEUED":
        job.status, job.finished, job.updated = "CANCELLED", now, now
    elif job.status == "RUNNING":
        job.status, job.updated = "CANCELLING", now
    return _render(request, job)


async def set_job_priority(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    try:
        priority = jsoncodec.loads(await request.read())["priority"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Answer(400, 'body: expected {"priority": ...}') from exc
    if priority not in ("high", "normal", "low"):
        raise Answer(400, f"body.priority: {priority!r} is not a priority")
    if job.terminal:
        raise Answer(409, f"job {job.job_id} is {job.status}; finished jobs cannot change")
    job.priority, job.updated = priority, int(time.time())
    return _render(request, job)


async def get_job_logs(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    tail = _int_query(request, "tail", 1000, 1, 10000)
    lines = request.app[LEGACY].store.logs.get(job.job_id, [])[-tail:]
    return web.Response(
        body="".join(line.render() for line in lines).encode(), content_type="text/plain"
    )


async def get_job_stats(request: web.Request) -> web.StreamResponse:
    raise Answer(410, "getJobStats is withdrawn", _DEPRECATION)


async def list_engines(request: web.Request) -> web.StreamResponse:
    return _json({"engines": sorted(request.app[LEGACY].store.engines)})


async def get_status(request: web.Request) -> web.StreamResponse:
    return _json({"status": "ok"})


async def unknown(request: web.Request) -> web.StreamResponse:
    raise Answer(404, f"no route {request.method} {request.path}")


_ROUTES: list[tuple[str, str, str, Handler]] = [
    ("POST", "/api/v1/jobs", "createJob", create_job),
    ("GET", "/api/v1/jobs", "listJobs", list_jobs),
    ("GET", "/api/v1/jobs/{job_id}", "getJob", get_job),
    ("DELETE", "/api/v1/jobs/{job_id}", "deleteJob", delete_job),
    ("POST", "/api/v1/jobs/{job_id}/cancel", "cancelJob", cancel_job),
    ("PUT", "/api/v1/jobs/{job_id}/priority", "setJobPriority", set_job_priority),
    ("GET", "/api/v1/jobs/{job_id}/logs", "getJobLogs", get_job_logs),
    ("GET", "/api/v1/jobs/{job_id}/stats", "getJobStats", get_job_stats),
    ("GET", "/api/v1/engines", "listEngines", list_engines),
    ("GET", "/api/v1/status", "getStatus", get_status),
]
OPERATION_OF: dict[Handler, str] = {handler: op for _, _, op, handler in _ROUTES}


# --- the gate every request passes ------------------------------------------------------


def _joined_headers(request: web.BaseRequest) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _error(status: int, message: str, rid: str, headers: dict[str, str]) -> web.Response:
    body = jsoncodec.dumps({"error": message, "code": status, "request_id": rid})
    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={**headers, "X-Request-ID": rid},
    )


async def _answer(
    request: web.Request, handler: Handler, operation: str | None, problems: list[str]
) -> web.StreamResponse:
    legacy = request.app[LEGACY]
    if operation not in (None, "getStatus") and not request.headers.get("X-Api-Key"):
        raise Answer(401, "missing API key")
    if problems:
        raise Answer(400, "; ".join(problems))
    fault = legacy.store.take_fault(operation)
    if fault is not None:
        if fault.delay is not None:
            await asyncio.sleep(fault.delay)
        elif fault.status is not None:
            body = fault.body if fault.body is not None else b"injected fault"
            response = web.Response(status=fault.status, body=body, headers=fault.headers)
            response.content_type = fault.content_type
            return response
    return await handler(request)


@web.middleware
async def _gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    legacy = request.app[LEGACY]
    operation = OPERATION_OF.get(request.match_info.handler)
    body = await request.read()
    # Raw path and query, as they came on the wire: pass-through tests compare bytes.
    raw_path, _, raw_query = request.raw_path.partition("?")
    record_seen(
        legacy.store.seen,
        SeenRequest(
            instance="legacy",
            operation=operation,
            method=request.method,
            path=raw_path,
            query_string=raw_query,
            headers=_joined_headers(request),
            body=body,
        ),
    )
    info = RequestInfo.of(request)
    problems: list[str] = []
    if operation is not None and legacy.check_contract:
        problems = legacy.contract.check_request(info, body, operation=operation)
    rid = _rid(request)
    fired = len(legacy.store.fired)
    try:
        response = await _answer(request, handler, operation, problems)
        response.headers["X-Request-ID"] = rid
    except Answer as answer:
        response = _error(answer.status, answer.message, rid, answer.headers)
    # An injected fault (other than a delay) breaks the contract on purpose: not recorded.
    faulted = any(f.fault.delay is None for f in legacy.store.fired[fired:])
    checked = operation is not None and legacy.check_contract and not faulted
    if checked and isinstance(response, web.Response):
        sent = response.body if isinstance(response.body, bytes) else b""
        problems = legacy.contract.check_response(
            info, response.status, response.headers.items(), sent
        )
        if not sent and response.content_type == "text/plain":
            # openapi-core reads an empty body as no data, but "" is a valid string
            # (no log lines: 200 with an empty body).
            problems = [p for p in problems if p != "Missing response data"]
        for message in problems:
            legacy.store.violations.append(
                Violation("legacy", "response", operation, request.method, request.path, message)
            )
    return response


def build_legacy_app(
    store: LegacyStore,
    *,
    phase1_path: Path | None = None,
    check_contract: bool = True,
    missing_owner: str = "",
) -> web.Application:
    """The legacy backend over `store`; `missing_owner` is the injected disagreement."""
    contract = load_contract(phase1_path or resources.phase1_contract())
    app = web.Application(middlewares=[_gate])
    app[LEGACY] = Legacy(store, contract, check_contract, missing_owner)
    for method, path, _, handler in _ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_route("*", "/{tail:.*}", unknown)
    return app


@dataclass(frozen=True)
class RunningLegacy:
    host: str
    port: int
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_legacy(
    store: LegacyStore, port: int = 0, host: str = "127.0.0.1", **options: Any
) -> RunningLegacy:
    """Serve the legacy backend on a real socket (port 0: a free one)."""
    runner = web.AppRunner(build_legacy_app(store, **options), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return RunningLegacy(host, int(runner.addresses[0][1]), runner)


async def _serve(port: int, host: str, missing_owner: str, check_contract: bool) -> None:
    running = await start_legacy(
        seed_legacy(LegacyStore()),
        port,
        host,
        missing_owner=missing_owner,
        check_contract=check_contract,
    )
    print(f"legacy: {running.url}/api/v1", flush=True)
    try:
        await until_signalled()
    finally:
        await running.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shimgw.reference.legacy",
        description="In-memory legacy Phase 1 backend seeded with the demo jobs.",
    )
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--missing-owner",
        default="",
        help='owner written for jobs without one (the mapping writes ""): a known disagreement',
    )
    parser.add_argument("--no-contract-check", action="store_true")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.host, args.missing_owner, not args.no_contract_check))


if __name__ == "__main__":
    main()
