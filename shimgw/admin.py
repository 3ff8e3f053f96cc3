"""The admin listener: status, config, reload, rollback reset, metrics, liveness, readiness.

It listens on its own address (loopback by default), never on the Phase 1
port, so a Phase 1 client cannot reach it. Reads are open to whoever can reach
the port; mutations need the admin token (from the environment variable the
config names), compared in constant time.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from shimgw.runtime import ADMIN_TOKEN_HEADER, Runtime
from shimgw.shadow.runner import ShadowRunner


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(data, option=orjson.OPT_INDENT_2),
        content_type="application/json",
    )


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:]
    return request.headers.get(ADMIN_TOKEN_HEADER)


def build_admin_app(runtime: Runtime, shadow: ShadowRunner | None = None) -> web.Application:
    def guarded(request: web.Request) -> web.Response | None:
        if runtime.admin_ok(_token(request)):
            return None
        return _json({"error": "admin token required"}, 401)

    async def status(request: web.Request) -> web.Response:
        return _json(runtime.status())

    async def config(request: web.Request) -> web.Response:
        return _json(runtime.describe())

    async def reload(request: web.Request) -> web.Response:
        refused = guarded(request)
        if refused is not None:
            return refused
        ok = await runtime.reload("admin")
        body = {
            "reloaded": ok,
            "version": runtime.current.version,
            "error": None if ok else runtime.last_error,
        }
        return _json(body, 200 if ok else 422)

    async def reset_rollback(request: web.Request) -> web.Response:
        refused = guarded(request)
        if refused is not None:
            return refused
        runtime.reset_rollback()
        return _json(runtime.status())

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=runtime.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        # Liveness only: the process answers. Whether it should get traffic is /readyz.
        return _json({"status": "ok", "version": runtime.current.version})

    async def diffs(request: web.Request) -> web.Response:
        # What shadow comparison found (this worker's share under --workers); redacted.
        runner = shadow or ShadowRunner(runtime.metrics)
        noise = {op: runner.noise.noise_of(op) for op in runner.noise.noisy}
        return _json({"version": runner.version, **runner.book.describe(noise)})

    async def readyz(request: web.Request) -> web.Response:
        reason = runtime.unready()
        if reason is None:
            return _json({"status": "ready", "version": runtime.current.version})
        return _json({"status": "not ready", "reason": reason}, 503)

    app = web.Application()
    app.router.add_get("/admin/diffs", diffs)
    app.router.add_get("/admin/status", status)
    app.router.add_get("/admin/config", config)
    app.router.add_post("/admin/reload", reload)
    app.router.add_post("/admin/rollback/reset", reset_rollback)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
