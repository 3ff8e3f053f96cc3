"""Integers beyond 64 bits stay exact through the gateway and the reference servers."""

from __future__ import annotations

import orjson
import pytest
from gwsupport import Gateway

from shimgw import jsoncodec

BIG = 123456789012345678901234567890


@pytest.mark.parametrize("number", [BIG, -BIG, 2**64, -(2**63) - 1])
async def test_a_job_created_with_a_big_integer_reads_back_exact(
    gateway: Gateway, number: int
) -> None:
    job = {"name": "big", "engine": "spark", "owner": "ana", "params": {"n": number}}
    created = await gateway.call(
        "POST",
        "/api/v1/jobs",
        data=jsoncodec.dumps(job),
        headers={"Content-Type": "application/json"},
    )
    assert created.status == 201, created.body
    assert jsoncodec.loads(created.body)["params"] == {"n": number}
    read = await gateway.call("GET", f"/api/v1/jobs/{orjson.loads(created.body)['job_id']}")
    assert read.status == 200, read.body
    assert b'"n":%d' % number in read.body
