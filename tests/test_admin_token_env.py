"""The admin token's environment variable holding a value no client could ever send.

A byte that is not UTF-8 (`os.environ` keeps it as a surrogate) made every admin POST a
500 and every Phase 1 request with the force header a 502 with a traceback in the log; a
value with surrounding whitespace or a control character can never match a header (HTTP
strips the one and forbids the other), so the admin listener silently answered 401 to the
right token. Both are refused at start with one line naming the variable, never its value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shimgw.config import parse_config
from shimgw.errors import ConfigError

VAR = "SHIMGW_RED2_TEST_TOKEN"
BAD = [
    b"s3cret\xff",
    b" s3cret",
    b"s3cret ",
    b"s3cret\n",
    b"\ts3cret",
    b"s3\x7fcret",
    b"s3\x01cret",
]


@pytest.mark.parametrize("value", BAD)
def test_an_unusable_token_is_refused_naming_the_variable(
    value: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VAR, os.fsdecode(value))
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"upstreams": {"s": {"url": "http://h"}}, "admin": {"token_env": VAR}}, base=Path(".")
        )
    assert caught.value.key == "admin.token_env"
    assert VAR in caught.value.problem and "s3" not in str(caught.value)


@pytest.mark.parametrize("value", ["tøk", "a" * 4096, "Abc-._~+/=123", "to k", "to\tk"])
def test_a_usable_token_is_kept(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, value)
    parse_config(
        {"upstreams": {"s": {"url": "http://h"}}, "admin": {"token_env": VAR}}, base=Path(".")
    )


def test_serve_says_one_line_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "upstreams: {s: {url: 'http://127.0.0.1:1'}}\n"
        f"listen: {{port: 0}}\nadmin: {{port: 0, token_env: {VAR}}}\n"
    )
    env = {**os.environ, VAR: os.fsdecode(b"s3cret\xff")}
    result = subprocess.run(
        [sys.executable, "-m", "shimgw", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shimgw: admin.token_env: "), result.stderr
    assert "s3cret" not in result.stderr
