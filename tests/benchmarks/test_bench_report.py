"""The report's rules (ratios refused near the upstream's ceiling, targets) and nginx's config."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import nginx, procs, report
from benchmarks.upstream import LIST_BYTES, run_bytes
from benchmarks.variants import VARIANTS, shimgw_config
from shimgw.config import parse_config


def summary(rps: float, p99: float, cpu: float = 100.0) -> dict[str, Any]:
    return {"rps": rps, "p99_ms": p99, "p50_ms": p99 / 2, "cpu_us_per_req": cpu}


def result(ceiling: float, naive: float, shim: float) -> dict[str, Any]:
    runs = {"naive": [{"load_1m": 1.0}], "default": [{"load_1m": 2.0}]}
    row = {
        "scenario": "getJob",
        "concurrency": 32,
        "upstream": summary(ceiling, 1.0, 5.0),
        "runs": runs,
        "proxies": {"naive": summary(naive, 10.0), "default": summary(shim, 8.0, 80.0)},
    }
    meta = {
        "variants": {"default": VARIANTS["default"].label},
        "load_tool": "wrk",
        "upstream": "nginx",
        "pinned": True,
        "duration_s": 3,
        "rounds": 3,
        "shimgw_loops": {"default": "uvloop"},
        "load_before": (1.0, 1.0, 1.0),
        "load_after": (2.0, 1.0, 1.0),
    }
    return {"meta": meta, "rows": [row], "steady_rss": None, "workers": None}


def test_a_ratio_is_printed_when_the_upstream_has_twice_the_headroom() -> None:
    r = result(ceiling=20_000, naive=5_000, shim=6_500)
    assert report.ratios(r["rows"][0], "default") == (pytest.approx(1.3), pytest.approx(0.8))
    text = report.markdown(r)
    assert "| 1.30× |" in text and "default config (access log on, memo on)" in text
    assert "getJob default (memo on) ≥ 1.25×: met (1.30× throughput" in text
    assert "| shimgw default, --workers 1, pinned | 6,500 | 80 | 12,500 |" in text


def test_no_ratio_when_the_upstream_is_within_twice_a_proxy() -> None:
    r = result(ceiling=12_000, naive=5_000, shim=6_500)  # 12,000 < 2 × 6,500
    assert report.ratios(r["rows"][0], "default") == (None, None)
    text = report.markdown(r)
    assert "refused: upstream < 2× proxy" in text and "1.30×" not in text
    assert "no ratio (upstream ceiling within 2×)" in text


def test_each_variant_is_a_valid_config_changing_one_key(tmp_path: Path) -> None:
    for variant in VARIANTS.values():
        raw = yaml.safe_load(shimgw_config(variant, 18080, 19180, "http://127.0.0.1:1"))
        config = parse_config(raw, base=tmp_path)
        assert config.listen.port == 18080
        assert config.logging.access is (variant.name != "no-access")
        assert config.logging.level == "info"
        assert (config.cache.max_bytes == 0) is (variant.name == "no-memo")
        assert bool(config.routing.shadow) is (variant.name == "shadow-10")


def test_nginx_config_keeps_every_token_under_its_4_kib_limit(tmp_path: Path) -> None:
    text = nginx.config(tmp_path, 18080)
    for token in re.findall(r"'(?:[^'\\]|\\.)*'", text):
        assert len(token) < 4096
    assert "$1" in text and "list.json" in text


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_answers_the_python_upstreams_bytes(tmp_path: Path) -> None:
    port = procs.free_port()
    proc = subprocess.Popen(nginx.argv(tmp_path / "ngx", port), stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                urllib.request.urlopen(base + "/v2/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        assert urllib.request.urlopen(base + "/v2/runs/run-42").read() == run_bytes(42)
        assert urllib.request.urlopen(base + "/v2/runs").read() == LIST_BYTES
        created = urllib.request.urlopen(
            urllib.request.Request(base + "/v2/runs", data=b"{}", method="POST")
        )
        assert created.status == 202
        assert created.read() == run_bytes(nginx.CREATED_RUN, "PENDING")
        assert created.headers["Location"] == f"/v2/runs/run-{nginx.CREATED_RUN}"
    finally:
        proc.terminate()
        proc.wait(10)
