"""openapi-core, the contract engine: document validation and the reference checks.

The gateway's hot path uses the compiled validators of `validators.py`; this
module is what they are held to. At every snapshot build each new document is
loaded and validated by openapi-core (so a broken contract is refused like a
broken config), and the tests run one corpus of requests and answers through
both engines to show they agree.

A serving gateway that has not imported openapi-core runs that validation in
a short-lived child process (`python -m shimgw.contracts.reference`): openapi-
core and what it pulls in (werkzeug, jsonschema, referencing) would otherwise
stay resident for the life of the process, about a fifth of its memory, to be
used once per contract version.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from shimgw.errors import ConfigError


def _json(data: bytes) -> Any:
    return orjson.loads(data)


# openapi-core knows application/json only; /v2 also speaks these two.
EXTRA_DESERIALIZERS: dict[str, Callable[[bytes], Any]] = {
    "application/problem+json": _json,
    "application/merge-patch+json": _json,
}


def load_openapi(path: Path, name: str) -> Any:
    """Load and validate one document with openapi-core (an `OpenAPI`), or raise `ConfigError`."""
    from openapi_core import Config, OpenAPI

    try:
        return OpenAPI.from_file_path(
            str(path), config=Config(extra_media_type_deserializers=EXTRA_DESERIALIZERS)
        )
    except Exception as exc:  # openapi-core raises many unrelated types for a bad document
        message = " ".join(str(exc).split())[:300]
        raise ConfigError(name, f"{path} is not a valid OpenAPI document: {message}") from exc


def validate_document(path: Path, name: str) -> None:
    """`load_openapi`, in this process if openapi-core is already here, else in a child."""
    if "openapi_core" in sys.modules:
        load_openapi(path, name)
        return
    try:
        result = subprocess.run(
            [sys.executable, "-m", "shimgw.contracts.reference", str(path), name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(name, f"could not run the contract check: {exc}") from exc
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["contract check failed"]
        raise ConfigError(name, lines[-1].removeprefix(f"{name}: "))


def _main(argv: list[str]) -> int:
    path, name = Path(argv[0]), argv[1]
    try:
        load_openapi(path, name)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
