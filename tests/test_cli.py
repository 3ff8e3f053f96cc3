"""The command line as users run it: real processes, real signals, real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from gwsupport import REPO

SHIMGW = [sys.executable, "-m", "shimgw"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SHIMGW, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("upstreams: {stable: {url: 'http://127.0.0.1:1', weight: -2}}", "upstreams.stable.weight"),
        ("upstreams: [", "not valid YAML"),
        ("listen: {port: 8080}\n", "upstreams"),
        ("upstreams: {s: {url: 'http://x'}}\ntranslations: nope\n", "translations"),
    ],
)
def test_serve_refuses_bad_config_in_one_line(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(content)
    result = run("serve", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0] and "Traceback" not in result.stderr


def test_serve_refuses_a_contract_openapi_core_rejects(tmp_path: Path) -> None:
    # The serving process never imports openapi-core: the check runs in a child process.
    (tmp_path / "p2.yaml").write_text("openapi: 3.1.0\ninfo: {}\npaths: {}\n")
    path = tmp_path / "c.yaml"
    path.write_text("upstreams: {s: {url: 'http://x'}}\ncontracts: {phase2: p2.yaml}\n")
    result = run("serve", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shimgw: contracts.phase2: ")
    assert "not a valid OpenAPI document" in lines[0]


def test_serve_missing_file() -> None:
    result = run("serve", "--config", "/nonexistent/shimgw.yaml")
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_check_passes_on_bundled_files() -> None:
    result = run("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 translated, 1 answered locally, 0 missing" in result.stdout
    assert "getJobStats" in result.stdout and "no problems" in result.stdout


def test_check_fails_on_drift(tmp_path: Path) -> None:
    folder = tmp_path / "translations"
    shutil.copytree(REPO / "translations", folder)
    doc = yaml.safe_load((folder / "listJobs.yaml").read_text())
    doc["request"]["query"]["state"]["pipe"][0]["map"].pop("CANCELLED")
    (folder / "listJobs.yaml").write_text(yaml.safe_dump(doc))
    (folder / "listEngines.yaml").unlink()
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump({"upstreams": {"s": {"url": "http://x"}}, "translations": "translations"})
    )
    result = run("check", "--config", str(config))
    assert result.returncode == 1
    assert "listEngines" in result.stdout and "missing" in result.stdout
    assert "map does not cover source values ['CANCELLED']" in result.stdout


def test_check_and_serve_refuse_a_bogus_route_with_the_same_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "upstreams": {"s": {"url": "http://127.0.0.1:9"}},
                "routing": {"routes": {"bogusOp": {"s": 1}}},
            }
        )
    )
    served, checked = run("serve", "--config", str(config)), run("check", "--config", str(config))
    assert served.returncode == checked.returncode == 2
    assert checked.stderr == served.stderr
    assert served.stderr.strip() == (
        "shimgw: routing.routes.bogusOp: not an operationId of phase1.yaml"
    )


def test_check_formats_for_ci(tmp_path: Path) -> None:
    import json
    from xml.etree import ElementTree

    as_json = run("check", "--format", "json", "--generate", "3")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["exit_code"] == 0 and data["problems"] == []
    assert data["generated"]["getJob"]["requests"] >= 1
    folder = tmp_path / "translations"
    shutil.copytree(REPO / "translations", folder)
    (folder / "listEngines.yaml").unlink()
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump({"upstreams": {"s": {"url": "http://x"}}, "translations": "translations"})
    )
    junit = run("check", "--config", str(config), "--format", "junit")
    assert junit.returncode == 1
    suite = ElementTree.fromstring(junit.stdout)
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["listEngines"].find("failure") is not None  # per operation
    assert cases["getJob"].find("failure") is None
    assert "listEngines" in cases and suite.get("failures") == "2"  # and per problem


async def wait_http(url: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


async def get_json(url: str, **kwargs: Any) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


def serve_config(
    tmp_path: Path, reference: dict[str, str], **extra: Any
) -> tuple[int, int, dict[str, Any], Path]:
    """(port, admin port, config, its file) of a gateway in front of the stable reference."""
    port, admin_port = free_port(), free_port()
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "upstreams": {"stable": {"url": reference["stable"], "weight": 1}},
        "admin": {"host": "127.0.0.1", "port": admin_port},
        **extra,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return port, admin_port, config, path


@contextlib.contextmanager
def shimgw(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m shimgw ARGS` as a child process, killed if the test leaves it running."""
    proc = subprocess.Popen(
        [*SHIMGW, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def stopped(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    """Signal it, wait for it, and hold it to a clean exit: code 0, no traceback."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


async def test_serve_reloads_on_sighup_and_exits_on_sigterm(
    tmp_path: Path, reference: dict[str, str]
) -> None:
    port, admin_port, config, path = serve_config(tmp_path, reference)
    with shimgw("serve", "--config", str(path)) as proc:
        await wait_http(f"http://127.0.0.1:{admin_port}/healthz")
        secret = "super-secret-key-4242"
        status, job = await get_json(
            f"http://127.0.0.1:{port}/api/v1/jobs/1",
            headers={"X-Api-Key": secret, "Authorization": "Bearer x"},
        )
        assert status == 200 and job["job_id"] == 1
        _, before = await get_json(f"http://127.0.0.1:{admin_port}/admin/config")
        config["upstreams"]["stable"]["weight"] = 5
        path.write_text(yaml.safe_dump(config))
        os.kill(proc.pid, signal.SIGHUP)
        for _ in range(50):
            _, after = await get_json(f"http://127.0.0.1:{admin_port}/admin/config")
            if after["version"] != before["version"]:
                break
            await asyncio.sleep(0.1)
        assert after["upstreams"]["stable"]["weight"] == 5
        out, err = stopped(proc)
    assert secret not in err + out and "Bearer x" not in err + out
    assert '"operation":"getJob"' in err  # the access log line is there, without the key
    assert '"loop":"uvloop"' in err  # a dependency where it builds: this machine serves on it


async def test_demo_serves_curlable_answers() -> None:
    port = free_port()
    with shimgw("demo", "--port", str(port), "--admin-port", "0") as proc:
        await wait_http(f"http://127.0.0.1:{port}/api/v1/status")
        status, body = await get_json(f"http://127.0.0.1:{port}/api/v1/status")
        assert (status, body) == (200, {"status": "ok"})
        status, page = await get_json(
            f"http://127.0.0.1:{port}/api/v1/jobs", headers={"X-Api-Key": "demo"}
        )
        assert status == 200 and page["total"] >= 5
        out, _ = stopped(proc, signal.SIGINT)
    assert f"curl -s http://127.0.0.1:{port}/api/v1/status" in out


async def test_workers_share_one_port_and_reload_together(
    tmp_path: Path, reference: dict[str, str]
) -> None:
    port, admin_port, config, path = serve_config(
        tmp_path, reference, logging={"level": "info", "access": False}
    )
    with shimgw("serve", "--config", str(path), "--workers", "2") as proc:
        await wait_http(f"http://127.0.0.1:{admin_port}/healthz")
        await wait_http(f"http://127.0.0.1:{port}/api/v1/status")
        for _ in range(20):
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"http://127.0.0.1:{port}/api/v1/jobs/1", headers={"X-Api-Key": "k"}
                ) as r,
            ):
                assert r.status == 200
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{admin_port}/metrics") as resp,
        ):
            metrics = await resp.text()
        # Counted across workers (multiprocess mode), not just the one serving /metrics.
        assert (
            'shimgw_requests_total{operation="getJob",status="200",upstream="stable"} 20.0'
            in metrics
        )
        config["upstreams"]["stable"]["weight"] = 9
        path.write_text(yaml.safe_dump(config))
        os.kill(proc.pid, signal.SIGHUP)
        await asyncio.sleep(2.5)
        _, err = stopped(proc)
    listening = {line for line in err.splitlines() if '"msg":"listening"' in line}
    assert len(listening) == 2
    reloaded_pids = {
        line.split('"pid":')[1].split("}")[0]
        for line in err.splitlines()
        if "config reloaded" in line
    }
    assert len(reloaded_pids) == 2, err


async def test_admin_usage_and_diffs_speak_for_every_worker(
    tmp_path: Path, reference: dict[str, str]
) -> None:
    """Under --workers 2, /admin/usage and /admin/diffs (served by worker 0) add up what
    every worker saw: a sunset decision read from `last_seen` must not miss the other half."""
    port, admin_port, _, path = serve_config(
        tmp_path,
        reference,
        logging={"level": "warning", "access": False},
        upstreams={
            "stable": {"url": reference["stable"], "weight": 1},
            "mirror": {"url": reference["stable"], "weight": 0},
        },
        routing={"shadow": [{"operations": ["getJob"], "to": "mirror", "sample": 1.0}]},
    )
    requests = 24
    with shimgw("serve", "--config", str(path), "--workers", "2") as proc:
        await wait_http(f"http://127.0.0.1:{admin_port}/healthz")
        await wait_http(f"http://127.0.0.1:{port}/api/v1/status")
        for _ in range(requests):  # a new connection each: the kernel spreads them
            status, _ = await get_json(
                f"http://127.0.0.1:{port}/api/v1/jobs/1", headers={"X-Api-Key": "k"}
            )
            assert status == 200
        usage: Any = None
        compared = -1
        for _ in range(40):  # the other worker's share is at most a second old
            await asyncio.sleep(0.25)
            _, usage = await get_json(f"http://127.0.0.1:{admin_port}/admin/usage")
            _, diffs = await get_json(f"http://127.0.0.1:{admin_port}/admin/diffs")
            compared = diffs["operations"].get("getJob", {}).get("compared", 0)
            getjob = usage["clients"]["unnamed"]["operations"].get("getJob", {})
            if getjob.get("count") == requests and compared == requests:
                break
        assert usage["clients"]["unnamed"]["operations"]["getJob"]["count"] == requests
        assert compared == requests
        assert diffs["processes"] == usage["processes"] == 2
        stopped(proc)
