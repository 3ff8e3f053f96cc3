"""The naive passthrough proxy shimgw is measured against.

What any hand-written aiohttp proxy does and nothing more: map the path, send
the request over one pooled ClientSession, read the whole answer and return
it with the same status and content type. No validation, no translation, no
metrics: the difference to shimgw is the price of those.

Run as `python -m benchmarks.baseline --port P --upstream URL`.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from benchmarks.serving import run, serve_until_signalled

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
# The same pool size and timeouts shimgw uses toward its upstreams.
POOL_SIZE = 256
TIMEOUT = aiohttp.ClientTimeout(total=10, connect=2, sock_connect=2)
FORWARDED = ("Content-Type", "X-Api-Key")


async def _forward(request: web.Request, method: str, path: str) -> web.Response:
    session = request.app[SESSION]
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    data = await request.read() if request.can_read_body else None
    try:
        async with session.request(method, path, headers=headers, data=data) as resp:
            body = await resp.read()
            return web.Response(body=body, status=resp.status, content_type=resp.content_type)
    except (aiohttp.ClientError, TimeoutError):
        # A plain 502 so that a broken upstream shows up as errors in the load results.
        return web.Response(status=502)


async def get_job(request: web.Request) -> web.Response:
    return await _forward(request, "GET", f"/v2/runs/run-{request.match_info['job_id']}")


async def list_jobs(request: web.Request) -> web.Response:
    return await _forward(request, "GET", "/v2/runs")


async def create_job(request: web.Request) -> web.Response:
    return await _forward(request, "POST", "/v2/runs")


def build_app(upstream: str) -> web.Application:
    app = web.Application()

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=30)
        async with aiohttp.ClientSession(
            base_url=upstream, connector=connector, timeout=TIMEOUT
        ) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_context)
    app.router.add_get("/api/v1/jobs/{job_id}", get_job)
    app.router.add_get("/api/v1/jobs", list_jobs)
    app.router.add_post("/api/v1/jobs", create_job)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the /v2 upstream")
    args = parser.parse_args(argv)
    url = args.upstream.rstrip("/")
    run(serve_until_signalled(lambda: build_app(url), args.host, args.port))


if __name__ == "__main__":
    main()
