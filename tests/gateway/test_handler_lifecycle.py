"""An operation's lifecycle headers on every answer of that operation, and on no other."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from handler_support import Harness, demo_run, v2_json
from multidict import CIMultiDict

from shimgw import resources
from shimgw.errors import UpstreamTimeout
from shimgw.messages import V2Response

DEPRECATION = "@1780272000"
SUNSET = "Fri, 01 Jan 2027 00:00:00 GMT"
LINK = '<https://docs.example.com/phase1>; rel="deprecation"'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The bundled translations with a lifecycle on getJob."""
    out = tmp_path / "translations"
    shutil.copytree(resources.translations_dir(), out)
    doc = yaml.safe_load((out / "getJob.yaml").read_text())
    doc["lifecycle"] = {
        "deprecation": "2026-06-01T00:00:00Z",
        "sunset": "2027-01-01T00:00:00Z",
        "link": {"deprecation": "https://docs.example.com/phase1"},
    }
    (out / "getJob.yaml").write_text(yaml.safe_dump(doc))
    return out


def lifecycle_of(response: object) -> tuple[str | None, str | None, str | None]:
    headers = response.headers  # type: ignore[attr-defined]
    return headers.get("Deprecation"), headers.get("Sunset"), headers.get("Link")


@pytest.mark.parametrize(
    ("path", "reply", "status"),
    [
        ("/api/v1/jobs/1", demo_run(), 200),
        (
            "/api/v1/jobs/99",
            v2_json(404, {"type": "about:blank", "title": "Not Found", "status": 404}),
            404,
        ),
        ("/api/v1/jobs/0", None, 400),  # refused by phase1.yaml: never sent
        ("/api/v1/jobs/1", UpstreamTimeout("slow"), 504),
        ("/api/v1/jobs/1", v2_json(200, {"not": "a run"}), 502),  # contract violation
    ],
)
async def test_every_answer_of_the_operation_carries_them(
    make_harness: Callable[..., Harness],
    folder: Path,
    path: str,
    reply: object,
    status: int,
) -> None:
    h = make_harness(translations=str(folder))
    h.upstream.reply = reply  # type: ignore[assignment]
    response = await h.call("GET", path)
    assert response.status == status
    assert lifecycle_of(response) == (DEPRECATION, SUNSET, LINK)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/jobs"), ("GET", "/nowhere"), ("PATCH", "/api/v1/jobs/1")],
)
async def test_other_operations_and_unrouted_requests_carry_none(
    make_harness: Callable[..., Harness], folder: Path, method: str, path: str
) -> None:
    h = make_harness(translations=str(folder))
    h.upstream.reply = v2_json(200, {"runs": [], "totalSize": 0})
    response = await h.call(method, path)
    assert lifecycle_of(response) == (None, None, None)


async def test_the_withdrawn_operation_says_when(make_harness: Callable[..., Harness]) -> None:
    # getJobStats keeps the bundled lifecycle on its 410 and its 400 alike.
    h = make_harness()
    gone, bad = (
        await h.call("GET", "/api/v1/jobs/1/stats"),
        await h.call("GET", "/api/v1/jobs/x/stats"),
    )
    assert (gone.status, bad.status) == (410, 400)
    expected = ("@1767225600", "Fri, 01 Jan 2027 00:00:00 GMT", None)
    assert lifecycle_of(gone) == lifecycle_of(bad) == expected


async def test_a_legacy_answer_passed_through_carries_them(
    make_harness: Callable[..., Harness], folder: Path
) -> None:
    # A legacy backend's own Deprecation (here a stale one) gives way to the translation's.
    good = make_harness()
    good.upstream.reply = demo_run()
    job = (await good.call("GET", "/api/v1/jobs/1")).body
    assert isinstance(job, bytes)
    h = make_harness(
        translations=str(folder),
        upstreams={
            "legacy": {"url": "http://legacy.invalid", "weight": 1, "protocol": "phase1"},
            "stable": {"url": "http://stable.invalid", "weight": 0},
        },
    )
    headers = CIMultiDict(
        {"Content-Type": "application/json", "X-Request-ID": "rid-9", "Deprecation": "@1"}
    )
    h.legacy.reply = V2Response(
        status=200, headers=headers, content_type="application/json", body=job
    )
    response = await h.call("GET", "/api/v1/jobs/1", headers={"X-Request-ID": "rid-9"})
    assert response.status == 200, response.body
    assert lifecycle_of(response) == (DEPRECATION, SUNSET, LINK)
    assert response.headers.getall("Deprecation") == [DEPRECATION]
