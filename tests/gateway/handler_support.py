"""Socket-free gateway fixtures: a real snapshot, a scripted `Upstream`, mocked requests.

The handler is driven with aiohttp's `make_mocked_request` and a fake upstream that
plays back whatever a test scripts (an answer, or an exception), so every outcome
runs without a listener or a client. Phase 1 answers are checked by openapi-core
against phase1.yaml (the independent oracle the integration tests use too).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from shimgw.accesslog import AccessLog
from shimgw.config import Config, UpstreamConfig, parse_config
from shimgw.legacy_arm import PassThrough, Phase1Upstream
from shimgw.messages import V2Request, V2Response
from shimgw.orchestrator import Limits
from shimgw.reference import RunStore, seed_demo
from shimgw.reply import Reply as Answer
from shimgw.runtime import Runtime, limits_of
from shimgw.server import Gateway
from shimgw.snapshot import Snapshot, build_snapshot

Reply = V2Response | BaseException


def play(name: str, reply: Reply | None) -> V2Response:
    """A scripted reply: the answer, or the exception raised in its place."""
    if reply is None:
        raise AssertionError(f"{name} was not expected to be called")
    if isinstance(reply, BaseException):
        raise reply
    return reply


@dataclass
class FakeUpstream:
    """An `Upstream` that answers with `reply` and remembers every call it was sent."""

    name: str
    url: str
    reply: Reply | None = None
    calls: list[V2Request] = field(default_factory=list)
    closed: bool = False

    async def send(self, request: V2Request, headers: Any) -> V2Response:
        self.calls.append(request)
        return play(self.name, self.reply)

    def same_as(self, url: str, limits: Limits) -> bool:
        return url == self.url

    async def close(self) -> None:
        self.closed = True


class FakeLegacy(Phase1Upstream):
    """A legacy Phase 1 backend (the handler passes calls through to it) that answers with
    `reply` and remembers every call it was sent."""

    def __init__(self, name: str, url: str, limits: Limits) -> None:
        super().__init__(name, url, limits)
        self.reply: Reply | None = None
        self.calls: list[PassThrough] = []

    async def forward(self, call: PassThrough) -> V2Response:
        self.calls.append(call)
        return play(self.name, self.reply)


def fake_factory(upstream: UpstreamConfig, config: Config) -> FakeUpstream | FakeLegacy:
    if upstream.protocol == "phase1":
        return FakeLegacy(upstream.name, upstream.url, limits_of(config, upstream))
    return FakeUpstream(upstream.name, upstream.url)


UPSTREAMS = {"stable": {"url": "http://stable.invalid", "weight": 1}}


def snapshot_for(**sections: Any) -> Snapshot:
    """A fresh snapshot (its own memo) of the bundled contracts and translations."""
    raw = {"upstreams": UPSTREAMS, **sections}
    return build_snapshot(parse_config(raw, base=Path(".")))


@dataclass
class Harness:
    runtime: Runtime
    gateway: Gateway
    _pipe: tuple[int, int] = (-1, -1)

    def open_access_log(self) -> None:
        """The access log into a pipe of our own (what the service does with stderr)."""
        self._pipe = os.pipe()
        os.set_blocking(self._pipe[0], False)
        self.gateway.access = AccessLog(self._pipe[1])

    def access_lines(self) -> list[dict[str, Any]]:
        assert self.gateway.access is not None
        self.gateway.access.flush()
        try:
            data = os.read(self._pipe[0], 1 << 16)
        except BlockingIOError:
            data = b""
        return [orjson.loads(line) for line in data.splitlines()]

    def close(self) -> None:
        if self.gateway.access is not None:
            self.gateway.access.close()
            self.gateway.access = None
        for fd in self._pipe:
            if fd >= 0:
                os.close(fd)
        self._pipe = (-1, -1)

    @property
    def legacy(self) -> FakeLegacy:
        up = self.runtime.current.upstreams["legacy"]
        assert isinstance(up, FakeLegacy)
        return up

    @property
    def upstream(self) -> FakeUpstream:
        up = self.runtime.current.upstreams["stable"]
        assert isinstance(up, FakeUpstream)
        return up

    def metric(self, name: str, **labels: str) -> float:
        return self.runtime.metrics.registry.get_sample_value(name, labels) or 0.0

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        peer: tuple[str, int] = ("192.0.2.7", 40000),
    ) -> Answer:
        sent = CIMultiDict({"X-Api-Key": "client-1", **(headers or {})})
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            peer if name == "peername" else default
        )
        kwargs: dict[str, Any] = {"transport": transport}
        if body is not None:
            sent.setdefault("Content-Length", str(len(body)))
            sent.setdefault("Content-Type", "application/json")
            payload = StreamReader(mock.Mock(), 1 << 16, loop=asyncio.get_running_loop())
            payload.feed_data(body)
            payload.feed_eof()
            kwargs["payload"] = payload
        request = make_mocked_request(method, path, headers=sent, **kwargs)
        response = await self.gateway.handle(request)
        assert isinstance(response, Answer)
        return response


def harness(**sections: Any) -> Harness:
    """A gateway on a fresh runtime (own metrics, own rollback windows) with its access log
    open; `close()` it (the `make_harness` fixture does)."""
    runtime = Runtime(snapshot_for(**sections), upstream_factory=fake_factory)
    h = Harness(runtime, Gateway(runtime))
    h.open_access_log()
    return h


def v2_json(status: int, doc: Any, **headers: str) -> V2Response:
    content_type = "application/json" if status < 400 else "application/problem+json"
    return V2Response(
        status=status,
        headers={k.lower(): v for k, v in headers.items()},
        content_type=content_type,
        body=orjson.dumps(doc),
    )


def demo_run(run_id: int = 1) -> V2Response:
    run = seed_demo(RunStore()).get_run(run_id)
    assert run is not None
    return v2_json(200, run.to_json(), ETag=f'"{run.etag}"')


class Lines(logging.Handler):
    """Every record the `shimgw` loggers emit, whatever setup_logging did to them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, logger: str = "shimgw") -> list[str]:
        return [r.getMessage() for r in self.records if r.name == logger]

    def fields(self, message: str) -> list[dict[str, Any]]:
        return [getattr(r, "fields", {}) for r in self.records if r.getMessage() == message]
