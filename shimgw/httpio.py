"""Reading an HTTP body with a cap, for both edges (Phase 1 requests, /v2 answers).

A declared length over the cap is refused before a byte is read; a chunked
body is read until it passes the cap, so neither a client nor an upstream can
make the gateway buffer more than it allows. A compressed body is capped on
its decoded size (`decode_stepwise`, or the reader's own decoded stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import StreamReader

from shimgw.decoding import BodyDecoder


async def decode_stepwise(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` decoded, its decoded size capped at `limit` (`DecodedTooLarge`), one bounded
    step at a time with the event loop free between steps (`DecodeError` when corrupt)."""
    decoder = BodyDecoder(encoding, limit)
    parts = []
    for part in decoder.feed(body):
        parts.append(part)
        await asyncio.sleep(0)
    decoder.finish()
    return b"".join(parts)


async def read_capped(
    content: StreamReader,
    length: int | None,
    limit: int,
    read_all: Callable[[], Awaitable[bytes]],
    too_large: Callable[[int | None], Exception],
) -> bytes:
    """The whole body, or `too_large(declared length or None)` raised."""
    if length is not None:
        if length > limit:
            raise too_large(length)
        return await read_all()
    chunks, size = [], 0
    async for chunk in content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise too_large(None)
        chunks.append(chunk)
    return b"".join(chunks)


def over_limit(length: int | None, limit: int) -> str:
    if length is None:
        return f"over the limit of {limit} bytes"
    return f"{length} bytes is over the limit of {limit}"
