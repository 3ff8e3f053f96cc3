"""A percent-encoded '/' in a path segment is data (RFC 3986 §2.2), never a separator.

The route table matched on the decoded path, so `POST /api/v1/jobs/4%2Fcancel` cancelled
job 4 on a /v2 arm (a proxy or firewall in front that guards `…/cancel` by its raw path
was walked around), while a legacy arm was passed the raw path and answered its own 404:
the same request meant two things depending on the arm. No Phase 1 path parameter holds
a '/', so such a path is no resource: the gateway answers 404 itself, on every arm.
"""

from __future__ import annotations

import pytest
from gwsupport import GatewayFactory

from shimgw.reference import RunStore
from shimgw.reference.legacy import start_legacy
from shimgw.reference.legacy_store import LegacyStore, seed_legacy


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/jobs/4%2Fcancel"),
        ("POST", "/api/v1/jobs/4%2fcancel"),
        ("GET", "/api/v1/jobs/1%2F2"),
        ("GET", "/api/v1/jobs/3%2Flogs"),
        ("PUT", "/api/v1/jobs%2F4/priority"),
    ],
)
async def test_an_encoded_slash_is_no_route_on_a_v2_arm(
    make_gateway: GatewayFactory, store: RunStore, method: str, path: str
) -> None:
    gateway = await make_gateway({"stable": 1})
    before = (await gateway.call("GET", "/api/v1/jobs/4")).json
    answer = await gateway.call(
        method, path, json={"priority": "high"} if method == "PUT" else None
    )
    assert answer.status == 404, answer.body
    assert set(answer.json) == {"error", "code", "request_id"} and answer.json["code"] == 404
    assert "%2" in answer.json["error"]  # the path as the client sent it
    assert (await gateway.call("GET", "/api/v1/jobs/4")).json == before  # not cancelled
    assert [s.operation for s in store.seen if s.operation != "getHealth"] == ["getRun", "getRun"]


async def test_an_encoded_slash_is_no_route_on_a_legacy_arm(make_gateway: GatewayFactory) -> None:
    legacy_store = seed_legacy(LegacyStore())
    legacy = await start_legacy(legacy_store)
    try:
        gateway = await make_gateway(
            {"stable": 0},
            upstreams={"legacy": {"url": legacy.url, "protocol": "phase1", "weight": 1}},
        )
        answer = await gateway.call("POST", "/api/v1/jobs/5%2Fcancel")
        assert answer.status == 404 and answer.json["code"] == 404, answer.body
        assert "%2F" in answer.json["error"]
        # Answered by the gateway itself: the legacy backend saw only its health probes.
        assert {s.path for s in legacy_store.seen} <= {"/api/v1/status"}
    finally:
        await legacy.stop()


async def test_an_encoded_percent_two_f_is_still_a_job_id(make_gateway: GatewayFactory) -> None:
    # '%252F' decodes to the text '%2F': no slash, so the usual 400 for a non-integer.
    gateway = await make_gateway({"stable": 1})
    answer = await gateway.call("GET", "/api/v1/jobs/1%252F2")
    assert answer.status == 400 and "job_id" in answer.json["error"], answer.body
