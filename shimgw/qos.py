"""Back-pressure toward each upstream, and optional per-client rate limits.

Theory of operation
-------------------
`UpstreamGate`: HTTP/1.1 carries one call per connection, so "connections to
an orchestrator" and "calls in flight to it" are one number. At most `limit`
calls are in flight per upstream; up to `queue` more wait for a slot, each at
most `wait` seconds; a call past both is refused at once with
`UpstreamBusy` (Phase 1 503 with Retry-After), and so is one whose wait runs
out. An orchestrator that is already slow then sees a bounded load instead of
a new connection per client, and clients get a fast, retryable 503 instead
of a wall of 504s. Slots are handed over in arrival order.

`RateLimiter` (sans-IO: the caller passes the clock): a token bucket per
client key, `rate` tokens a second and a burst of `burst`; an empty bucket
answers with the seconds until the next token (429 + Retry-After). Keys are
kept as 16-byte digests (an API key is a secret, and may be long), in a
bounded LRU of `clients` buckets (~250 bytes each): a flood of distinct keys
cannot grow memory, it only forgets the oldest clients (who then start with
a full bucket).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from collections import deque

from shimgw.errors import UpstreamBusy

RETRY_AFTER_S = 1


class UpstreamGate:
    def __init__(self, name: str, *, limit: int, queue: int, wait: float) -> None:
        self.name, self.limit, self.queue, self.wait = name, limit, queue, wait
        self.active = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _busy(self, why: str) -> UpstreamBusy:
        self.refused += 1
        return UpstreamBusy(
            f"orchestrator ({self.name}) is busy: {why}",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    def try_acquire(self) -> bool:
        """Take a slot now if one is free and nobody waits (the common case: no await)."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        if len(self._waiters) >= self.queue:
            raise self._busy(f"{self.limit} calls in flight and {self.queue} waiting")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.wait):
                await waiter  # release() counted us in before waking us
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # woken and timed out at once: pass the slot on
            raise self._busy(f"no free connection within {self.wait:g} s") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next in line
                return
        self.active -= 1


class RateLimiter:
    """Token buckets per client key; `take` returns 0 (allowed) or seconds to wait."""

    def __init__(self, rate: float, *, burst: float | None = None, clients: int = 16384) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.clients = clients
        # digest → (tokens, at); a dict keeps insertion order: re-inserting on use is the LRU
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def take(self, client: str, now: float) -> int:
        key = hashlib.blake2b(client.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = 0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = max(1, math.ceil((1 - tokens) / self.rate))
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.clients:
            del self._buckets[next(iter(self._buckets))]
        return wait

    def __len__(self) -> int:
        return len(self._buckets)
