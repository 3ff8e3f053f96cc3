"""limits.per_client_rps over loopback: 429 with Retry-After per client key, never for
operations that do not promise 429; the bucket logic as a table."""

from __future__ import annotations

from gwsupport import GatewayFactory

from shimgw.qos import RateLimiter


async def test_per_client_rate_limit(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(limits={"per_client_rps": 0.01})  # one token per 100 s
    first = await gateway.call("GET", "/api/v1/jobs/1", key="client-a")
    assert first.status == 200
    limited = await gateway.call("GET", "/api/v1/jobs/1", key="client-a")
    assert limited.status == 429
    assert limited.header("Retry-After") == "100"
    assert limited.json["code"] == 429
    assert limited.json["request_id"] == limited.header("X-Request-ID")
    assert "client-a" not in limited.body.decode()
    # Another client has its own bucket; getStatus (no 429 in its contract) is never limited.
    assert (await gateway.call("GET", "/api/v1/jobs/1", key="client-b")).status == 200
    for _ in range(3):
        assert (await gateway.call("GET", "/api/v1/status", key="client-a")).status == 200
    assert gateway.service.runtime.metrics.rate_limited._value.get() == 1


async def test_no_limit_by_default(gateway) -> None:  # type: ignore[no-untyped-def]
    for _ in range(20):
        assert (await gateway.call("GET", "/api/v1/jobs/1", key="same")).status == 200


def test_token_bucket() -> None:
    limiter = RateLimiter(2.0)  # 2/s, burst 2
    assert [limiter.take("k", 0.0) for _ in range(3)] == [0, 0, 1]
    assert limiter.take("k", 0.5) == 0  # one token back after 0.5 s
    assert limiter.take("other", 0.5) == 0
    slow = RateLimiter(0.2)
    assert slow.take("k", 0.0) == 0 and slow.take("k", 0.0) == 5


def test_buckets_are_bounded_and_keyless() -> None:
    limiter = RateLimiter(1.0, clients=100)
    for n in range(1000):
        limiter.take(f"secret-key-{n}", 0.0)
    assert len(limiter) == 100
    assert not any(b"secret" in key for key in limiter._buckets)
