"""The legacy arm through the handler, without sockets: pass-through, checks, failures."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from handler_support import Harness, Reply, demo_run
from multidict import CIMultiDict

from shimgw.errors import UpstreamBusy, UpstreamUnavailable
from shimgw.messages import V2Response
from shimgw.reference.contract import Contract, RequestInfo

LEGACY = {
    "legacy": {"url": "http://legacy.invalid", "weight": 1, "protocol": "phase1"},
    "stable": {"url": "http://stable.invalid", "weight": 0},
}
Make = Callable[..., Harness]


async def phase1_job(make_harness: Make) -> bytes:
    """A getJob answer as phase1.yaml has it: what the gateway makes of the demo run."""
    h = make_harness()
    h.upstream.reply = demo_run()
    response = await h.call("GET", "/api/v1/jobs/1")
    assert response.status == 200 and isinstance(response.body, bytes)
    return response.body


def legacy(status: int, body: bytes) -> V2Response:
    # As aiohttp's client gives them: case-insensitive.
    headers = CIMultiDict({"Content-Type": "application/json", "X-Request-ID": "rid-9"})
    return V2Response(status=status, headers=headers, content_type="application/json", body=body)


@pytest.mark.parametrize(
    ("reply", "status", "recorded", "kind"),
    [
        ("job", 200, (1, 0), None),
        (legacy(200, orjson.dumps({"job_id": "one"})), 502, (1, 1), "contract"),
        (UpstreamUnavailable("legacy backend (legacy) unreachable"), 502, (1, 1), "unreachable"),
        (UpstreamBusy("legacy is busy", headers={"Retry-After": "1"}), 503, (0, 0), "busy"),
    ],
    ids=["answer", "broken answer", "unreachable", "busy"],
)
async def test_the_legacy_arm_passes_calls_through(
    make_harness: Make,
    phase1_oracle: Contract,
    reply: Reply | str,
    status: int,
    recorded: tuple[int, int],
    kind: str | None,
) -> None:
    answer = legacy(200, await phase1_job(make_harness)) if reply == "job" else reply
    h = make_harness(upstreams=LEGACY)
    h.legacy.reply = answer  # type: ignore[assignment]
    response = await h.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "rid-9"})
    assert response.status == status, response.body
    body = response.body
    assert isinstance(body, bytes)
    assert (
        phase1_oracle.check_response(
            RequestInfo("GET", "/api/v1/jobs/1"), status, list(response.headers.items()), body
        )
        == []
    )
    (call,) = h.legacy.calls
    assert (call.method, call.target) == ("GET", "/api/v1/jobs/1")
    assert dict(call.headers)["X-Request-ID"] == "rid-9"  # the client's call, correlated
    window = h.runtime.rollback.windows["legacy"]
    assert (window.total, window.errors) == recorded
    counted = h.metric("shimgw_upstream_errors_total", upstream="legacy", kind=kind or "5xx")
    assert counted == (1 if kind else 0)
