"""The reference orchestrator: an aiohttp app serving the /v2 contract from a RunStore.

Every request passes one middleware that records it, checks it against
phase2.yaml, authenticates it and consults the fault queue before the
operation's handler runs; every response the app itself produces is checked
on the way out. Violations are recorded, never hidden: the app is a test
oracle first and an orchestrator second.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from shimgw import jsoncodec
from shimgw.reference.contract import Contract, RequestInfo, load_contract
from shimgw.reference.store import (
    Fault,
    LogEntry,
    Run,
    RunStore,
    SeenRequest,
    Violation,
    now_rfc3339,
    record_seen,
)

PROBLEM_JSON = "application/problem+json"
CORRELATION = "X-Correlation-ID"


@dataclass(frozen=True)
class Instance:
    store: RunStore
    name: str
    contract: Contract
    check_contract: bool


INSTANCE = web.AppKey("instance", Instance)


# --- response helpers -----------------------------------------------------------


def problem(status: int, detail: str | None = None, **headers: str) -> web.Response:
    """An RFC 9457 problem; `about:blank` means the title is just the status phrase."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    doc: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        doc["detail"] = detail
    return web.Response(
        status=status, body=jsoncodec.dumps(doc), content_type=PROBLEM_JSON, headers=headers
    )


def json_response(doc: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status, body=jsoncodec.dumps(doc), content_type="application/json", headers=headers
    )


def _instance(request: web.Request) -> Instance:
    return request.app[INSTANCE]


def _run_or_404(request: web.Request) -> Run | web.Response:
    run_id = request.match_info["runId"]
    digits = run_id.removeprefix("run-")
    run = None
    if run_id.startswith("run-") and digits.isdigit():
        run = _instance(request).store.get_run(int(digits))
    if run is None:
        return problem(404, f"no run {run_id}")
    return run


# --- operations -----------------------------------------------------------------


async def create_run(request: web.Request) -> web.StreamResponse:
    store = _instance(request).store
    key = request.headers.get("Idempotency-Key")
    if key is not None and key in store.idempotency:
        earlier = store.get_run(store.idempotency[key])
        if earlier is not None:
            return json_response(earlier.to_json(), 202, Location=f"/v2/runs/{earlier.name}")
    doc = jsoncodec.loads(await request.read())
    wanted = doc["plugin"]
    plugin = store.find_plugin(wanted["id"], wanted.get("version"))
    if plugin is None:
        version = f" version {wanted['version']}" if "version" in wanted else ""
        return problem(422, f"no enabled plugin {wanted['id']}{version}")
    now = now_rfc3339()
    run = store.add_run(
        Run(
            id=store.next_id(),
            display_name=doc["displayName"],
            plugin_id=plugin.id,
            plugin_version=plugin.version,
            state="PENDING",
            create_time=now,
            update_time=now,
            priority=doc.get("priority", 50),
            labels=dict(doc["labels"]),
            tags=list(doc.get("tags", [])),
            parameters=dict(doc.get("parameters", {})),
            notification_url=doc.get("notification", {}).get("webhook", {}).get("url"),
        )
    )
    if key is not None:
        store.idempotency[key] = run.id
    return json_response(run.to_json(), 202, Location=f"/v2/runs/{run.name}")


def _page_start(request: web.Request) -> int | None:
    token = request.query.get("pageToken")
    if token is None:
        return int(request.query.get("skip", "0"))
    offset = token.removeprefix("offset-")
    return int(offset) if token.startswith("offset-") and offset.isdigit() else None


async def list_runs(request: web.Request) -> web.StreamResponse:
    states = set(request.query.getall("state", []))
    wanted = [label.partition("=") for label in request.query.getall("label", [])]
    page_size = int(request.query.get("pageSize", "50"))
    start = _page_start(request)
    if start is None:
        return problem(400, "pageToken was not issued by this server")
    matching = [
        run
        for run in _instance(request).store.newest_first()
        if (not states or run.state in states)
        and all(run.labels.get(key) == value for key, _, value in wanted)
    ]
    page = matching[start : start + page_size]
    doc: dict[str, Any] = {"runs": [run.to_json() for run in page], "totalSize": len(matching)}
    if start + page_size < len(matching):
        doc["nextPageToken"] = f"offset-{start + page_size}"
    return json_response(doc)


async def get_run(request: web.Request) -> web.StreamResponse:
    run = _run_or_404(request)
    if isinstance(run, web.Response):
        return run
    return json_response(run.to_json(), ETag=f'"{run.etag}"')


def _etag_matches(if_match: str, etag: str) -> bool:
    candidates = [c.strip() for c in if_match.split(",")]
    return any(c == "*" or c.removeprefix("W/").strip('"') == etag for c in candidates)


async def update_run(request: web.Request) -> web.StreamResponse:
    run = _run_or_404(request)
    if isinstance(run, web.Response):
        return run
    if_match = request.headers.get("If-Match")
    if if_match is not None and not _etag_matches(if_match, run.etag):
        return problem(412, f"{run.name} is at etag {run.etag}")
    if run.terminal:
        return problem(409, f"{run.name} is {run.state}; finished runs cannot change")
    patch = jsoncodec.loads(await request.read())
    labels = dict(run.labels)
    # RFC 7396: null removes a member, anything else replaces it.
    for key, value in (patch.get("labels") or {}).items():
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
    if len(labels) > 64:
        return problem(422, "a run can carry at most 64 labels")
    if patch.get("priority") is not None:
        run.priority = patch["priority"]
    if "tags" in patch:
        run.tags = list(patch["tags"] or [])
    run.labels = labels
    run.touch()
    return json_response(run.to_json())


async def cancel_run(request: web.Request) -> web.StreamResponse:
    run = _run_or_404(request)
    if isinstance(run, web.Response):
        return run
    if run.terminal:
        return problem(409, f"{run.name} is already {run.state}")
    if run.state in ("PENDING", "SCHEDULED"):
        now = now_rfc3339()
        run.state = "CANCELLED"
        run.end_time = now
        run.touch(now)
    elif run.state == "RUNNING":
        run.state = "CANCELLING"
        run.touch()
    return json_response(run.to_json())


async def delete_run(request: web.Request) -> web.StreamResponse:
    run = _run_or_404(request)
    if isinstance(run, web.Response):
        return run
    if not run.terminal:
        return problem(409, f"{run.name} is {run.state}; only finished runs can be deleted")
    _instance(request).store.delete_run(run.id)
    return web.Response(status=204)


async def list_run_logs(request: web.Request) -> web.StreamResponse:
    run = _run_or_404(request)
    if isinstance(run, web.Response):
        return run
    limit = int(request.query.get("limit", "1000"))
    entries: list[LogEntry] = _instance(request).store.logs.get(run.id, [])
    return json_response({"entries": [e.to_json() for e in entries[-limit:]]})


async def list_plugins(request: web.Request) -> web.StreamResponse:
    plugins = _instance(request).store.plugins
    return json_response({"plugins": [p.to_json() for p in plugins]})


async def get_health(request: web.Request) -> web.StreamResponse:
    inst = _instance(request)
    health = inst.store.health_for(inst.name)
    return json_response(health.to_json(), 200 if health.status == "SERVING" else 503)


async def unknown_operation(request: web.Request) -> web.StreamResponse:
    return problem(404, f"phase2.yaml has no operation {request.method} {request.path}")


# The colon route comes first: `{runId}` alone would also swallow "run-1:cancel".
# Path parameters are deliberately looser than the contract so a malformed id
# still reaches the contract check (400 + violation) instead of a bare 404.
_ROUTES: list[tuple[str, str, str, Handler]] = [
    ("POST", "/v2/runs", "createRun", create_run),
    ("GET", "/v2/runs", "listRuns", list_runs),
    ("POST", "/v2/runs/{runId}:cancel", "cancelRun", cancel_run),
    ("GET", "/v2/runs/{runId}", "getRun", get_run),
    ("PATCH", "/v2/runs/{runId}", "updateRun", update_run),
    ("DELETE", "/v2/runs/{runId}", "deleteRun", delete_run),
    ("GET", "/v2/runs/{runId}/logs", "listRunLogs", list_run_logs),
    ("GET", "/v2/plugins", "listPlugins", list_plugins),
    ("GET", "/v2/health", "getHealth", get_health),
]
OPERATION_OF: dict[Handler, str] = {handler: op for _, _, op, handler in _ROUTES}


# --- the gate every request passes ------------------------------------------------


def _has_bearer(request: web.BaseRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _joined_headers(request: web.BaseRequest) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


async def _apply_fault(request: web.Request, fault: Fault, handler: Handler) -> web.StreamResponse:
    if fault.delay is not None:
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if fault.garbage is not None or fault.drop:
        transport = request.transport
        if transport is not None:
            if fault.garbage is not None:
                transport.write(fault.garbage)
            transport.close()
        # Never reaches the client: aiohttp sees the closed transport and gives up.
        return web.Response(status=500)
    assert fault.status is not None
    if fault.body is None:
        response = problem(fault.status, "injected fault")
        response.content_type = fault.content_type
    else:
        response = web.Response(status=fault.status, body=fault.body)
        response.content_type = fault.content_type
    response.headers.update(fault.headers)
    return response


@web.middleware
async def _gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    inst = _instance(request)
    store = inst.store
    operation = OPERATION_OF.get(request.match_info.handler)
    body = await request.read()
    record_seen(
        store.seen,
        SeenRequest(
            instance=inst.name,
            operation=operation,
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            headers=_joined_headers(request),
            body=body,
        ),
    )
    info = RequestInfo.of(request)
    problems: list[str] = []
    if inst.check_contract or operation is None:
        problems = inst.contract.check_request(info, body, operation=operation)
    if operation is None and not problems:
        problems = [f"no operation serves {request.method} {request.path}"]
    for message in problems:
        store.violations.append(
            Violation(inst.name, "request", operation, request.method, request.path, message)
        )

    checked = True
    if operation is None:
        response: web.StreamResponse = await handler(request)
    elif operation != "getHealth" and not _has_bearer(request):
        response = problem(401, "missing bearer token", **{"WWW-Authenticate": "Bearer"})
    elif problems:
        response = problem(400, "; ".join(problems))
    elif (fault := store.take_fault(inst.name, operation)) is not None:
        response = await _apply_fault(request, fault, handler)
        # A delayed answer is still the app's own; every other fault breaks rules on purpose.
        checked = fault.delay is not None
    else:
        response = await handler(request)

    correlation = request.headers.get(CORRELATION)
    if correlation is not None and CORRELATION not in response.headers:
        response.headers[CORRELATION] = correlation
    # The contract only promises behaviour for valid requests to known operations.
    if checked and not problems and inst.check_contract and isinstance(response, web.Response):
        sent = response.body if isinstance(response.body, bytes) else b""
        for message in inst.contract.check_response(
            info, response.status, response.headers.items(), sent
        ):
            store.violations.append(
                Violation(inst.name, "response", operation, request.method, request.path, message)
            )
    return response


def build_app(
    store: RunStore,
    name: str,
    *,
    phase2_path: Path | None = None,
    check_contract: bool = True,
) -> web.Application:
    """One orchestrator instance called `name`, serving (and mutating) `store`.

    `check_contract=False` skips validating well-routed traffic (benchmarks
    measure the gateway, not openapi-core); requests to unknown paths are
    still recorded as violations.
    """
    app = web.Application(middlewares=[_gate])
    app[INSTANCE] = Instance(store, name, load_contract(phase2_path), check_contract)
    for method, path, _, handler in _ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_route("*", "/{tail:.*}", unknown_operation)
    return app
