"""Config and translation files as YAML: a key written twice, and numbers that are not numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shimgw.config import load_config, parse_config
from shimgw.errors import ConfigError, TranslationError
from shimgw.translate.language import load_translations

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "text",
    [
        "upstreams: {stable: {url: 'http://a'}}\nupstreams: {stable: {url: 'http://b'}}\n",
        "upstreams:\n  stable: {url: 'http://a', url: 'http://b'}\n",
        "upstreams: {stable: {url: 'http://a'}}\ntimeouts:\n  total: 5\n  connect: 1\n  total: 9\n",
    ],
)
def test_a_key_written_twice_is_refused_with_its_line(tmp_path: Path, text: str) -> None:
    # Last-one-wins would silently drop what the operator wrote first (an upstream's URL).
    path = tmp_path / "shimgw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "written twice" in caught.value.problem and "line" in caught.value.problem


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}"])
def test_a_complex_key_is_a_yaml_error_not_a_crash(tmp_path: Path, key: str) -> None:
    # YAML allows a sequence or mapping as a key (`? [a, b]`); Python cannot hash one.
    # The safe loader calls that "found unhashable key": it must stay one clear
    # ConfigError, not a TypeError traceback (a reload would log it as a crash).
    path = tmp_path / "shimgw.yaml"
    path.write_text(f"upstreams: {{stable: {{url: 'http://a'}}}}\n? {key}\n: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "unhashable key" in caught.value.problem


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    # A key merged in from an anchor and written again is an override, not a duplicate.
    path = tmp_path / "shimgw.yaml"
    path.write_text(
        "upstreams:\n  stable: &s {url: 'http://a', weight: 1}\n"
        "  canary: {<<: *s, url: 'http://b'}\n"
    )
    upstreams = load_config(path).upstreams
    assert (upstreams["canary"].url, upstreams["canary"].weight) == ("http://b", 1)


def test_a_translation_key_written_twice_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "translations"
    shutil.copytree(ROOT / "translations", folder)
    path = folder / "getJob.yaml"
    path.write_text(path.read_text() + "target: getRun\n")
    with pytest.raises(TranslationError) as caught:
        load_translations(folder)
    assert "getJob.yaml" in str(caught.value) and "written twice" in str(caught.value)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
@pytest.mark.parametrize("key", ["total", "connect", "client_body"])
def test_a_timeout_must_be_a_finite_number(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"upstreams": {"s": {"url": "http://h"}}, "timeouts": {key: value}}, base=Path(".")
        )
    assert caught.value.key == f"timeouts.{key}"
