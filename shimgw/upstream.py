"""The aiohttp transport: an `Upstream` (orchestrator.py) on aiohttp's client.

`HttpUpstream` is a pooled aiohttp `ClientSession` per upstream (keep-alive,
connect/total timeouts); it is the transport for https upstreams
(`upstream_transport: aiohttp`). aiohttp's errors are mapped here, at the
edge, onto the error tree (`raise ... from`).
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import orjson

from shimgw import jsoncodec
from shimgw.decoding import DecodedTooLarge, DecodeError, is_identity
from shimgw.errors import UpstreamTimeout, UpstreamUnavailable
from shimgw.httpio import decode_stepwise, over_limit, read_capped
from shimgw.messages import ABSENT, V2Request, V2Response
from shimgw.orchestrator import Limits
from shimgw.qos import UpstreamGate

MAX_HEAD_FIELD = 64 << 10  # one answer header line (the fast transport caps the whole head)


class HttpUpstream:
    """One orchestrator instance over HTTP/1.1 with a keep-alive pool."""

    def __init__(
        self,
        name: str,
        url: str,
        limits: Limits,
        *,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self.name, self.url, self.limits = name, url, limits
        self._trace_configs = trace_configs
        self._session: aiohttp.ClientSession | None = None
        self.gate = UpstreamGate(
            name,
            limit=limits.max_connections,
            queue=limits.max_queue,
            wait=limits.connect_timeout,
        )

    def same_as(self, url: str, limits: Limits) -> bool:
        return (self.url, self.limits) == (url, limits)

    def _open(self) -> aiohttp.ClientSession:
        # Created lazily: the session must be made inside the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=self.url,
                connector=aiohttp.TCPConnector(
                    limit=self.limits.max_connections, keepalive_timeout=30, ttl_dns_cache=60
                ),
                timeout=aiohttp.ClientTimeout(
                    total=self.limits.total_timeout,
                    connect=self.limits.connect_timeout,
                    sock_connect=self.limits.connect_timeout,
                ),
                # Decoded by us, after the read, capped on the decoded size (httpio.py).
                auto_decompress=False,
                max_field_size=MAX_HEAD_FIELD,
                max_line_size=MAX_HEAD_FIELD,
                skip_auto_headers=("User-Agent",),
                json_serialize=lambda o: orjson.dumps(o).decode(),
                trace_configs=self._trace_configs,
            )
        return self._session

    async def send(self, request: V2Request, headers: Mapping[str, str]) -> V2Response:
        await self.gate.acquire()
        try:
            return await self._send(request, headers)
        finally:
            self.gate.release()

    async def _send(self, request: V2Request, headers: Mapping[str, str]) -> V2Response:
        session = self._open()
        if self.limits.headers:
            headers = {**headers, **dict(self.limits.headers)}
        data = None
        if request.body is not ABSENT:
            data = jsoncodec.dumps(request.body)
        try:
            async with session.request(
                request.method,
                request.path,
                params=request.query_pairs() or None,
                headers={**headers, **dict(self.limits.headers)}
                if self.limits.headers
                else headers,
                data=data,
                allow_redirects=False,
            ) as resp:
                if resp.status == 101 or resp.status < 200:
                    raise UpstreamUnavailable(
                        f"orchestrator ({self.name}) answered {resp.status}: not a usable answer"
                    )
                body = await self._read(resp)
                return V2Response(
                    status=resp.status,
                    headers=resp.headers,
                    content_type=resp.content_type.lower(),
                    body=body,
                )
        except TimeoutError as exc:
            # aiohttp's connect and read timeouts both derive from TimeoutError.
            raise UpstreamTimeout(f"orchestrator ({self.name}) did not answer in time") from exc
        except aiohttp.ClientResponseError as exc:
            raise UpstreamUnavailable(
                f"orchestrator ({self.name}) sent an unreadable answer: {exc.message}"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnavailable(
                f"orchestrator ({self.name}) unreachable: {type(exc).__name__}"
            ) from exc

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.limits.max_body_bytes
        body = await read_capped(
            resp.content,
            resp.content_length,
            limit,
            resp.read,
            lambda length: UpstreamUnavailable(
                f"orchestrator ({self.name}) answer: {over_limit(length, limit)}"
            ),
        )
        encoding = resp.headers.get("Content-Encoding")
        if is_identity(encoding) or not body:
            return body
        assert encoding is not None
        try:
            return await decode_stepwise(body, encoding, limit)
        except (DecodedTooLarge, DecodeError) as exc:
            raise UpstreamUnavailable(f"orchestrator ({self.name}) answer: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
