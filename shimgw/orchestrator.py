"""The orchestrator as the handler sees it: the `Upstream` interface and its limits.

No sockets and no aiohttp here, so the runtime, the snapshot and the tests can
speak of upstreams without importing a transport. Two transports implement the
interface (`upstream.HttpUpstream` on aiohttp, `transport.FastUpstream` on
httptools); a test plugs in any object with the same three methods.

An `Upstream` sends one /v2 call and returns one raw answer, or raises one of
the gateway's errors (`UpstreamTimeout`, `UpstreamUnavailable`, `UpstreamBusy`):
library errors never cross this line. `same_as` lets a reload keep an upstream,
and so its warm connections, when nothing that shapes its pool changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shimgw.messages import V2Request, V2Response


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What shapes an upstream's pool besides its URL; a reload keeps a pool whose
    URL and limits did not change."""

    connect_timeout: float
    total_timeout: float
    max_body_bytes: int  # of the decoded answer
    max_connections: int = 128  # calls in flight (= connections) to this upstream
    max_queue: int = 128  # calls waiting for one of those, at most `connect_timeout` s
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # sent on every call


class Upstream(Protocol):
    name: str
    url: str

    async def send(self, request: V2Request, headers: Mapping[str, str]) -> V2Response: ...

    def same_as(self, url: str, limits: Limits) -> bool:
        """Whether a reload with these settings may keep this upstream (and its pool)."""
        ...

    async def close(self) -> None: ...
