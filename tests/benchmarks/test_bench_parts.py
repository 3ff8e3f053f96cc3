"""The pure parts of `make bench`: parsers, statistics, /proc readers, and a tiny load run.

No speed is asserted anywhere: these tests run on loaded CI machines.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
import yaml
from aiohttp import web

from benchmarks import procs
from benchmarks.load import Request, aiohttp_load_async, parse_wrk, percentile, wrk_script
from benchmarks.upstream import LIST_BYTES, build_app, run_bytes, run_doc

ROOT = Path(__file__).resolve().parents[2]

WRK_SAMPLE = """\
Running 3s test @ http://127.0.0.1:40001/api/v1/jobs/42
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.07ms    3.21ms  48.50ms   80.12%
    Req/Sec     2.66k   210.33     3.01k    71.00%
  Latency Distribution
     50%  850.00us
     75%   13.40ms
     90%   15.90ms
     99%    1.20s
  7981 requests in 3.01s, 4.62MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2651.49
Transfer/sec:      1.53MB
"""


def test_parse_wrk_reads_counts_percentiles_and_errors() -> None:
    result = parse_wrk(WRK_SAMPLE)
    assert result.tool == "wrk"
    assert result.requests == 7981
    assert result.duration_s == pytest.approx(3.01)
    assert result.rps == pytest.approx(2651.49)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.errors == 2 + 1 + 4


def test_parse_wrk_refuses_output_without_latency_distribution() -> None:
    without = "\n".join(line for line in WRK_SAMPLE.splitlines() if "%  " not in line)
    with pytest.raises(ValueError, match="not wrk"):
        parse_wrk(without)


def test_wrk_script_escapes_quotes_and_sets_the_cap() -> None:
    req = Request("POST", "/x", {"X-Api-Key": 'a"b\\c'}, b'{"name":"bench"}')
    script = wrk_script(req, 123)
    assert 'wrk.method = "POST"' in script
    assert r'wrk.headers["X-Api-Key"] = "a\034b\092c"' in script
    assert r'wrk.body = "{\034name\034:\034bench\034}"' in script
    assert "answered >= 123" in script


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_proc_readers_on_this_process() -> None:
    pid = os.getpid()
    before = procs.cpu_seconds(pid)
    end = time.process_time() + 0.05
    while time.process_time() < end:  # burn a little CPU so the counter moves
        pass
    assert procs.cpu_seconds(pid) >= before
    assert procs.tree_cpu_seconds(pid) >= procs.cpu_seconds(pid)
    memory = procs.memory_kib(pid)
    assert memory["VmRSS"] > 0
    assert memory["VmHWM"] >= memory["VmRSS"]
    assert pid in procs.descendants(pid)
    assert procs.tree_memory_kib(pid)["VmRSS"] >= memory["VmRSS"]


def test_fake_bodies_conform_to_the_phase2_run_schema() -> None:
    # shimgw checks every /v2 answer; a body off the contract would turn into 502s.
    doc = yaml.safe_load((ROOT / "openapi" / "phase2.yaml").read_text())
    run_schema: dict[str, Any] = {**doc, "$ref": "#/components/schemas/Run"}
    validator = jsonschema_rs.Draft202012Validator(run_schema, validate_formats=True)
    validator.validate(run_doc(42))
    validator.validate(run_doc(1_000_000, state="PENDING"))
    assert 500 <= len(run_bytes(42)) <= 700  # about the size the issue asks for
    page = orjson.loads(LIST_BYTES)
    assert page["totalSize"] == len(page["runs"]) == 20
    for run in page["runs"]:
        validator.validate(run)


async def test_bundled_client_against_the_fake_upstream() -> None:
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/v2/runs/run-7"
        result = await aiohttp_load_async(url, Request("GET", "/v2/runs/run-7"), 4, 0.3, 50_000)
    finally:
        await runner.cleanup()
    assert result.tool == "aiohttp"
    assert result.requests > 0
    assert result.errors == 0
    assert result.p50_ms <= result.p99_ms


def test_wirecost_times_the_parts_and_reads_getjob_cpu_from_a_report(tmp_path: Path) -> None:
    from benchmarks import wirecost

    parts = wirecost.parts(20)
    assert set(parts) == {
        "v2_answer_check_us",
        "to_phase1_us",
        "wire_check_us",
        "wire_check_bytes_us",
    }
    assert all(us > 0 for us in parts.values())
    report = tmp_path / "report.json"
    report.write_text(
        orjson.dumps(
            {
                "meta": {"variants": {"no-memo": "memo off"}},
                "rows": [
                    {"scenario": "getJob", "concurrency": 32, "proxies": {
                        "naive": {"cpu_us_per_req": 100.0},
                        "no-memo": {"cpu_us_per_req": 200.0},
                    }},
                    {"scenario": "listJobs", "concurrency": 32, "proxies": {
                        "no-memo": {"cpu_us_per_req": 900.0},
                    }},
                ],
            }
        ).decode()
    )  # fmt: skip
    assert wirecost.request_cpu(report) == {"no-memo c=32": 200.0}
    assert wirecost.every_answer_checked(report) == {"no-memo"}
    assert wirecost.request_cpu(tmp_path / "missing.json") == {}
