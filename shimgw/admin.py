"""The admin listener: status, config, usage, reload, rollback reset, metrics, liveness,
readiness.

It listens on its own address (loopback by default), never on the Phase 1
port, so a Phase 1 client cannot reach it. Reads are open to whoever can reach
the port; mutations need the admin token (from the environment variable the
config names), compared in constant time.
"""

from __future__ import annotations

import json

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from shimgw.runtime import ADMIN_TOKEN_HEADER, Runtime
from shimgw.shadow.book import DiffShare
from shimgw.shadow.runner import ShadowRunner
from shimgw.shares import DIFFS, USAGE, ShareDir
from shimgw.usage import UsageShare


def _json(data: object, status: int = 200) -> web.Response:
    try:
        body = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    except TypeError:  # an integer beyond 64 bits (a diff sample): written digit for digit
        body = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:]
    return request.headers.get(ADMIN_TOKEN_HEADER)


def build_admin_app(
    runtime: Runtime, shadow: ShadowRunner | None = None, shares: ShareDir | None = None
) -> web.Application:
    """`shares`: under `--workers N`, where the other workers' books are (shares.py)."""
    admin = _Admin(runtime, shadow or ShadowRunner(runtime.metrics), shares)
    app = web.Application()
    app.router.add_get("/admin/diffs", admin.diffs)
    app.router.add_get("/admin/status", admin.status)
    app.router.add_get("/admin/config", admin.config)
    app.router.add_get("/admin/usage", admin.usage)
    app.router.add_post("/admin/reload", admin.reload)
    app.router.add_post("/admin/rollback/reset", admin.reset_rollback)
    app.router.add_get("/metrics", admin.metrics)
    app.router.add_get("/healthz", admin.healthz)
    app.router.add_get("/readyz", admin.readyz)
    return app


class _Admin:
    """The admin handlers: reads are open, mutations check the token first."""

    def __init__(self, runtime: Runtime, shadow: ShadowRunner, shares: ShareDir | None) -> None:
        self.runtime, self.shadow, self.shares = runtime, shadow, shares

    def _refused(self, request: web.Request) -> web.Response | None:
        if self.runtime.admin_ok(_token(request)):
            return None
        return _json({"error": "admin token required"}, 401)

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.runtime.status())

    async def config(self, request: web.Request) -> web.Response:
        return _json(self.runtime.describe())

    async def usage(self, request: web.Request) -> web.Response:
        # Per client and operation since start, every worker's book added up (under
        # --workers the others' are at most a second old): names only, never a key or hash.
        runtime = self.runtime
        others = self.shares.others(USAGE, UsageShare.from_json) if self.shares else []
        return _json(runtime.usage.describe(runtime.current.config.clients, others))

    async def reload(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        runtime = self.runtime
        ok = await runtime.reload("admin")
        body = {
            "reloaded": ok,
            "version": runtime.current.version,
            "error": None if ok else runtime.last_error,
        }
        return _json(body, 200 if ok else 422)

    async def reset_rollback(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.runtime.reset_rollback()
        return _json(self.runtime.status())

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.runtime.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(self, request: web.Request) -> web.Response:
        # Liveness only: the process answers. Whether it should get traffic is /readyz.
        return _json({"status": "ok", "version": self.runtime.current.version})

    async def diffs(self, request: web.Request) -> web.Response:
        # What shadow comparison found, every worker's book of this version added up;
        # redacted (samples are redacted before they are stored or shared).
        shadow = self.shadow
        others = self.shares.others(DIFFS, DiffShare.from_json) if self.shares else []
        same = [share for share in others if share.version == shadow.version]
        return _json({"version": shadow.version, **shadow.book.describe(shadow.noise_map(), same)})

    async def readyz(self, request: web.Request) -> web.Response:
        reason = self.runtime.unready()
        if reason is None:
            return _json({"status": "ready", "version": self.runtime.current.version})
        return _json({"status": "not ready", "reason": reason}, 503)
