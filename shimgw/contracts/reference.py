"""openapi-core, the contract engine: document validation and the reference checks.

The gateway's hot path uses the compiled validators of `validators.py`; this
module is what they are held to. At every snapshot build each document is
loaded and validated by openapi-core (so a broken contract is refused like a
broken config), and the tests run one corpus of requests and answers through
both engines to show they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from openapi_core import Config, OpenAPI

from shimgw.errors import ConfigError


def _json(data: bytes) -> Any:
    return orjson.loads(data)


# openapi-core knows application/json only; /v2 also speaks these two.
EXTRA_DESERIALIZERS: dict[str, Callable[[bytes], Any]] = {
    "application/problem+json": _json,
    "application/merge-patch+json": _json,
}


def load_openapi(path: Path, name: str) -> OpenAPI:
    """Load and validate one document with openapi-core, or raise `ConfigError`."""
    try:
        return OpenAPI.from_file_path(
            str(path), config=Config(extra_media_type_deserializers=EXTRA_DESERIALIZERS)
        )
    except Exception as exc:  # openapi-core raises many unrelated types for a bad document
        message = " ".join(str(exc).split())[:300]
        raise ConfigError(name, f"{path} is not a valid OpenAPI document: {message}") from exc
