"""A config, contract or translation path that names a FIFO, a device or a folder is refused
with one line: opening a FIFO for reading blocks until a writer comes, so `serve`, `check`
and a reload hung on it for good."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shimgw.config import load_config
from shimgw.contracts.document import load_contract
from shimgw.errors import ConfigError, TranslationError
from shimgw.translate.language import load_translations

REPO = Path(__file__).resolve().parent.parent


def _refused_at_once(load: Callable[[], object], fifo: Path) -> Exception:
    # A thread, so a regression fails the test instead of hanging the suite; the FIFO is
    # then opened write-side, which releases a reader that did block.
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(load)
    try:
        future.result(timeout=20)
    except concurrent.futures.TimeoutError:
        with open(fifo, "wb"):
            pass
        raise AssertionError("blocked reading a FIFO") from None
    except Exception as exc:
        return exc
    finally:
        pool.shutdown(wait=True)
    raise AssertionError("a special file was loaded")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


def test_config_fifo_is_refused(fifo: Path) -> None:
    error = _refused_at_once(lambda: load_config(fifo), fifo)
    assert isinstance(error, ConfigError)
    assert "not a regular file" in str(error)


def test_contract_fifo_is_refused(fifo: Path) -> None:
    error = _refused_at_once(lambda: load_contract(fifo, "contracts.phase1"), fifo)
    assert isinstance(error, ConfigError)
    assert "not a regular file" in str(error)


def test_translation_fifo_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "translations"
    shutil.copytree(REPO / "translations", folder)
    pipe = folder / "zz.yaml"
    os.mkfifo(pipe)
    error = _refused_at_once(lambda: load_translations(folder), pipe)
    assert isinstance(error, TranslationError)
    assert "not a regular file" in str(error)
