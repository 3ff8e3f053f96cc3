"""The Phase 1 listener against hostile clients, over raw sockets on loopback: parser
refusals in the Phase 1 shape, read deadlines, the connection cap, and the drain."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from gwsupport import Gateway, GatewayFactory

from shimgw.reference import Fault, RunStore

SECRET = "sk-live-0123456789abcdef"
GET = b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n"


async def connect(gateway: Gateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", gateway.service.port)


async def exchange(gateway: Gateway, data: bytes, timeout: float = 3) -> bytes:
    """Everything the gateway writes back until it closes the connection."""
    reader, writer = await connect(gateway)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_phase1_error(raw: bytes, status: int) -> dict[str, str]:
    code, headers, body = parse(raw)
    assert code == status, raw[:300]
    doc = orjson.loads(body)
    assert set(doc) == {"error", "code", "request_id"} and doc["code"] == status
    assert headers["x-request-id"] == doc["request_id"]
    assert headers["content-type"].startswith("application/json")
    assert headers["server"] == "shimgw"
    return headers


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
        b"GET /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: "
        + SECRET.encode()
        + b"\r\nAuthorization: Bearer "
        + SECRET.encode()
        + b"\r\nBad\x01Header: "
        + SECRET.encode()
        + b"\r\n\r\n",
        b"FOO /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + SECRET.encode() + b"\r\n\r\n",
    ],
    ids=["64KiB-header", "bad-header-char", "unknown-method", "bad-length", "tls-hello"],
)
async def test_parser_refusals_are_phase1_errors_and_log_nothing_raw(
    gateway: Gateway, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        raw = await exchange(gateway, request_bytes)
    assert_phase1_error(raw, 400)
    assert SECRET.encode() not in raw
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert SECRET not in logged
    assert "Traceback" not in logged
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a client's fault"
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1


async def test_server_header_defaults_to_shimgw_and_is_configurable(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway()
    answer = await gateway.call("GET", "/api/v1/status", key=None)
    assert answer.header("Server") == "shimgw"
    other = await make_gateway(listen={"server_header": "edge"})
    assert (await other.call("GET", "/api/v1/jobs/1")).header("Server") == "edge"
    assert (await other.call("GET", "/nope")).header("Server") == "edge"


async def test_trickled_head_is_cut_off(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(timeouts={"client_header": 0.3})
    reader, writer = await connect(gateway)
    writer.write(b"GET /api/v1/status HTTP/1.1\r\n")
    closed = False
    for _ in range(30):  # one header byte every 0.1 s, never finishing the head
        try:
            writer.write(b"X")
            await writer.drain()
        except ConnectionError:
            closed = True
            break
        await asyncio.sleep(0.1)
        if reader.at_eof() or writer.transport.is_closing():
            closed = True
            break
        if await _eof_soon(reader):
            closed = True
            break
    writer.close()
    assert closed, "a head trickled for 3 s outlived timeouts.client_header = 0.3 s"
    metrics = gateway.service.runtime.metrics
    assert metrics.client_timeouts.labels("header")._value.get() >= 1


async def _eof_soon(reader: asyncio.StreamReader) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), 0.01)
    except TimeoutError:
        return False
    return data == b""


async def test_stalled_body_gets_a_400(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(timeouts={"client_body": 0.3})
    reader, writer = await connect(gateway)
    writer.write(
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":'
    )
    await writer.drain()
    status, headers, body = await read_answer(reader)
    writer.close()
    assert status == 400 and "not received" in orjson.loads(body)["error"]
    assert headers["x-request-id"] == orjson.loads(body)["request_id"]


async def test_idle_keep_alive_ends(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(timeouts={"client_idle": 0.3})
    reader, writer = await connect(gateway)
    writer.write(GET)
    status, _, _ = await read_answer(reader)
    assert status == 200
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the gateway
    writer.close()


async def test_connection_cap_refuses_the_excess_cleanly(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(limits={"max_connections": 2})
    held = [await connect(gateway) for _ in range(2)]
    await asyncio.sleep(0.05)
    raw = await exchange(gateway, GET)
    headers = assert_phase1_error(raw, 503)
    assert headers["retry-after"] == "1" and headers["connection"] == "close"
    assert gateway.service.runtime.metrics.client_refused._value.get() == 1
    # The held connections still serve; once one closes, a new one is accepted.
    reader, writer = held[0]
    writer.write(GET)
    assert (await read_answer(reader))[0] == 200
    writer.close()
    await asyncio.sleep(0.05)
    reader2, writer2 = await connect(gateway)
    writer2.write(GET)
    assert (await read_answer(reader2))[0] == 200
    for _, w in [held[1], (reader2, writer2)]:
        w.close()


async def test_drain_answers_say_connection_close(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway()
    store.inject(Fault(operation="getRun", delay=0.5))
    reader, writer = await connect(gateway)
    writer.write(b"GET /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(gateway.service.stop())
    status, headers, _ = await read_answer(reader)
    await stopping
    writer.close()
    assert status == 200 and headers.get("connection") == "close"
