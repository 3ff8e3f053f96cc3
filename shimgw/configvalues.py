"""Readers of one configuration value, and the field helpers the sections are made of.

Each reader takes the YAML value and its dotted key and returns the typed value or
raises `ConfigError` naming the key, so every refusal reads the same; `setting`,
`path_setting` and `section` attach a default and a reader to a section's field
(config.py), which is all `parse_config` needs to read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from shimgw.errors import ConfigError

Read = Callable[[Any, str], Any]  # (YAML value, dotted key) → typed value, or ConfigError


# --- readers of one value -------------------------------------------------------------------


def string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"expected a non-empty string, got {value!r}")
    return value


def integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    return value


def at_least(low: int) -> Read:
    def check(value: Any, key: str) -> int:
        number = integer(value, key)
        if number < low:
            raise ConfigError(key, f"expected a whole number ≥ {low}, got {number}")
        return number

    return check


def positive(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(key, f"expected a finite number > 0, got {value!r}")
    return float(value)


def non_negative(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(key, f"expected a finite number ≥ 0, got {value!r}")
    return float(value)


def header_value(value: Any, key: str) -> str:
    text = string(value, key)
    if not text.isprintable() or not text.isascii():
        raise ConfigError(key, f"expected printable ASCII text, got {text!r}")
    return text


def fraction(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(key, f"expected a number from 0 to 1, got {value!r}")
    return float(value)


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")
    return value


def port(value: Any, key: str) -> int:
    port = integer(value, key)
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"{port} is not a TCP port")
    return port


def admin_port(value: Any, key: str) -> int | None:
    """A port, or `off` (YAML false) for no admin listener at all."""
    if value is False or value == "off":
        return None
    return port(value, key)


def byte_size(value: Any, key: str) -> int:
    size = integer(value, key)
    if size < 1024:
        raise ConfigError(key, f"expected at least 1024 bytes, got {size}")
    return size


def choice(*options: str) -> Read:
    def check(value: Any, key: str) -> str:
        if value not in options:
            raise ConfigError(key, f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    return check


def weight(value: Any, key: str) -> int:
    weight = integer(value, key)
    if weight < 0:
        raise ConfigError(key, f"a weight is a whole number ≥ 0, got {weight}")
    return weight


def str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, "expected a list of strings")
    return value


def mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(key, "expected a mapping")
    return value


def sequence(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(key, "expected a list")
    return value


def path_value(value: Any, key: str, base: Path) -> Path:
    resolved = (base / string(value, key)).resolve()
    if not resolved.exists():
        raise ConfigError(key, f"{resolved} does not exist")
    return resolved


def setting(default: Any, read: Read | None) -> Any:
    """A key of a section: its default and how its YAML value is read.

    `read=None` marks a value the section's own reader supplies (it depends on
    another section, or on the file's folder).
    """
    if isinstance(default, Mapping):  # read-only, so one shared empty mapping is safe
        return field(default_factory=lambda: default, metadata={"read": read})
    return field(default=default, metadata={"read": read})


def path_setting() -> Any:
    """A file or folder, relative to the config file; None: the bundled one."""
    return field(default=None, metadata={"read": path_value, "relative": True})


def section(cls: Callable[[], Any], reader: Callable[..., Any] | None = None) -> Any:
    """A YAML section of `Config`: absent from the file, it is all defaults.

    `reader(r, read_so_far)` reads a section whose keys depend on sections read
    before it; without one, config.py's `_section` reads the section from its fields alone.
    """
    return field(default=cls(), metadata={"section": cls, "reader": reader})
