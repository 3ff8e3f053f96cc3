"""What ships: a wheel that finds its own contracts and translations, and the container recipe."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml
from gwsupport import REPO

from shimgw.config import parse_config


def test_installed_wheel_finds_its_bundled_files(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("shimgw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "shimgw/_bundled/openapi/phase1.yaml",
        "shimgw/_bundled/openapi/phase2.yaml",
        "shimgw/_bundled/translations/_common.yaml",
        "shimgw/_bundled/translations/README.md",
    ):
        assert expected in names
    # `pip install .` must give the fast loop where it builds (what the benchmark measures).
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
    uvloop = [
        line.replace('"', "'") for line in requires if line.startswith("Requires-Dist: uvloop")
    ]
    assert len(uvloop) == 1, requires
    assert "sys_platform != 'win32'" in uvloop[0]
    assert "platform_python_implementation == 'CPython'" in uvloop[0]
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from elsewhere, with only the unpacked wheel on the path (the checkout hidden).
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import shimgw.resources as r, shimgw.checkcmd as c, sys;"
            "print(r.bundled_root()); sys.exit(c.run_check(None, sys.stdout))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(site / "shimgw" / "_bundled") in result.stdout
    assert "no problems" in result.stdout


def test_dockerfile_runs_serve_as_non_root_with_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER shimgw" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'CMD ["serve", "--config", "/etc/shimgw/shimgw.yaml"]' in text
    config = parse_config(yaml.safe_load((REPO / "docker" / "shimgw.yaml").read_text()), base=REPO)
    assert config.admin.port == 9180 and config.listen.port == 8080
