"""A port already in use stops `shimgw serve` with one line and exit code 2, at once."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

SHIMGW = [sys.executable, "-m", "shimgw"]


def serve(config: Path, workers: str) -> subprocess.CompletedProcess[str]:
    """`shimgw serve` expected to refuse at once (bounded: a hang fails the test)."""
    return subprocess.run(
        [*SHIMGW, "serve", "--config", str(config), "--workers", workers],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("which", ["listen", "admin"])
def test_busy_port_is_one_line_and_exit_2(tmp_path: Path, which: str, workers: str) -> None:
    with socket.socket() as taken, socket.socket() as free:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free.bind(("127.0.0.1", 0))
        busy, other = taken.getsockname()[1], free.getsockname()[1]
        free.close()
        ports = (busy, other) if which == "listen" else (other, busy)
        config = tmp_path / "c.yaml"
        config.write_text(
            "upstreams: {s: {url: 'http://127.0.0.1:1'}}\n"
            f"listen: {{port: {ports[0]}}}\nadmin: {{port: {ports[1]}}}\n"
        )
        result = serve(config, workers)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    key = "listen.port" if which == "listen" else "admin.port"
    assert lines[0].startswith(f"shimgw: {key}: cannot listen on 127.0.0.1:{busy}")
    # One line: no traceback, no "worker exited; restarting" loop before giving up.
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["0", "-3", "100000", "two"])
def test_a_worker_count_out_of_bounds_is_one_line_and_exit_2(tmp_path: Path, workers: str) -> None:
    """--workers 100000 forked until the machine ran out of memory: the count is bounded
    (4 per usable CPU) and refused before the config is even read, nothing forked."""
    config = tmp_path / "c.yaml"
    config.write_text("upstreams: {s: {url: 'http://127.0.0.1:1'}}\nlisten: {port: 0}\n")
    result = serve(config, workers)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("shimgw serve: error: argument --workers:"), result.stderr
    assert "Traceback" not in result.stderr
