"""The configuration file: YAML → one frozen `Config`, every error naming its key.

Parsing is strict on purpose: an unknown key is far more often a typo
(`wieght: 5`) than a wish, and a typo in a canary weight is an outage.
Relative paths are taken from the config file's folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

from shimgw.errors import ConfigError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it

T = TypeVar("T")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
DEFAULT_ADMIN_PORT: int | None = 9180


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    name: str
    url: str
    weight: int
    max_connections: int = 128  # calls in flight (one per connection) to this upstream
    max_queue: int = 128  # calls waiting for a slot, at most timeouts.connect s; then 503
    # Sent on every call to this upstream, values read from the environment (never the file).
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A client group: matched by a header value or by SHA-256 hashes of API keys."""

    name: str
    header: str | None
    values: frozenset[str]
    key_sha256: frozenset[str]
    weights: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    key: str  # "header:<Name>" or "client_address"
    salt: str
    routes: Mapping[str, Mapping[str, int]]  # Phase 1 operationId → weights
    groups: tuple[GroupConfig, ...]
    force_header: str


@dataclass(frozen=True, slots=True)
class AdminConfig:
    host: str
    port: int | None  # None: no admin listener
    token_env: str


@dataclass(frozen=True, slots=True)
class RollbackConfig:
    enabled: bool
    max_error_rate: float
    max_p99_ms: float
    min_requests: int
    window_s: float
    health_failures: int  # 0: no health probes
    health_interval_s: float


@dataclass(frozen=True, slots=True)
class Config:
    source: Path | None
    digest: str
    host: str
    port: int
    upstreams: Mapping[str, UpstreamConfig]
    connect_timeout: float
    total_timeout: float
    phase1: Path | None  # None: the bundled contract
    phase2: Path | None
    translations: Path | None
    validate_responses: str  # enforce | report | off
    max_body_bytes: int
    max_upstream_body_bytes: int
    routing: RoutingConfig
    admin: AdminConfig
    rollback: RollbackConfig
    log_level: str
    access_log: bool
    trace_sample_ratio: float
    upstream_transport: str = "fast"  # fast | aiohttp
    cache_max_bytes: int = 8 << 20  # 0: no answer memo
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def load_config(path: Path) -> Config:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML: {' '.join(str(exc).split())}") from exc
    return parse_config(
        raw, base=path.resolve().parent, source=path, digest=hashlib.sha256(data).hexdigest()
    )


class _Reader:
    """Reads one mapping, remembering which keys were used so leftovers are errors."""

    def __init__(self, raw: Any, key: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(key or "config", "expected a mapping")
        self.raw, self.key, self.used = raw, key, set[str]()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, kind: Callable[[Any, str], T], default: T) -> T:
        self.used.add(name)
        if name not in self.raw or self.raw[name] is None:
            return default
        return kind(self.raw[name], self.path(name))

    def sub(self, name: str) -> _Reader:
        self.used.add(name)
        return _Reader(self.raw.get(name), self.path(name))

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.raw if k not in self.used)
        if unknown:
            raise ConfigError(self.path(unknown[0]), "unknown key")


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"expected a non-empty string, got {value!r}")
    return value


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    return value


def _at_least(low: int) -> Callable[[Any, str], int]:
    def check(value: Any, key: str) -> int:
        number = _int(value, key)
        if number < low:
            raise ConfigError(key, f"expected a whole number ≥ {low}, got {number}")
        return number

    return check


def _positive(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(key, f"expected a number > 0, got {value!r}")
    return float(value)


def _fraction(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(key, f"expected a number from 0 to 1, got {value!r}")
    return float(value)


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")
    return value


def _port(value: Any, key: str) -> int:
    port = _int(value, key)
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"{port} is not a TCP port")
    return port


def _admin_port(value: Any, key: str) -> int | None:
    """A port, or `off` (YAML false) for no admin listener at all."""
    if value is False or value == "off":
        return None
    return _port(value, key)


def _choice(*options: str) -> Callable[[Any, str], str]:
    def check(value: Any, key: str) -> str:
        if value not in options:
            raise ConfigError(key, f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    return check


def _weights(raw: Any, key: str, upstreams: Mapping[str, Any]) -> Mapping[str, int]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(key, "expected upstream: weight pairs")
    out = {}
    for name, weight in raw.items():
        if name not in upstreams:
            raise ConfigError(f"{key}.{name}", f"unknown upstream (known: {', '.join(upstreams)})")
        out[str(name)] = _weight(weight, f"{key}.{name}")
    if sum(out.values()) == 0:
        raise ConfigError(key, "all weights are 0: no upstream would serve")
    return MappingProxyType(out)


def _weight(value: Any, key: str) -> int:
    weight = _int(value, key)
    if weight < 0:
        raise ConfigError(key, f"a weight is a whole number ≥ 0, got {weight}")
    return weight


def parse_config(raw: Any, *, base: Path, source: Path | None = None, digest: str = "") -> Config:
    top = _Reader(raw, "")

    def path_of(value: Any, key: str) -> Path:
        resolved = (base / _str(value, key)).resolve()
        if not resolved.exists():
            raise ConfigError(key, f"{resolved} does not exist")
        return resolved

    listen = top.sub("listen")
    host = listen.get("host", _str, "127.0.0.1")
    port = listen.get("port", _port, 8080)
    listen.done()

    ups = top.sub("upstreams")
    if not ups.raw:
        raise ConfigError("upstreams", "at least one upstream is required")
    upstreams: dict[str, UpstreamConfig] = {}
    for name in ups.raw:
        entry = ups.sub(str(name))
        url = entry.get("url", _str, "")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(entry.path("url"), f"expected an http(s) URL, got {url!r}")
        if "@" in parts.netloc:
            # Never echoed back: the URL is shown by GET /admin/config and in logs.
            raise ConfigError(
                entry.path("url"),
                "credentials in the URL are refused (they would be shown by /admin/config "
                "and logged); give the orchestrator's credentials in a header from the "
                "environment (`upstreams.<name>.headers_env`)",
            )
        weight = entry.get("weight", _weight, 1 if len(ups.raw) == 1 else 0)
        max_connections = entry.get("max_connections", _at_least(1), 128)
        max_queue = entry.get("max_queue", _at_least(0), 128)
        env_headers: dict[str, Any] = entry.get("headers_env", _dict, {})
        entry.done()
        upstreams[str(name)] = UpstreamConfig(
            name=str(name),
            url=url.rstrip("/"),
            weight=weight,
            max_connections=max_connections,
            max_queue=max_queue,
            headers=_headers_from_env(env_headers, entry.path("headers_env")),
        )
    if sum(u.weight for u in upstreams.values()) == 0:
        raise ConfigError("upstreams", "all weights are 0: no upstream would serve")

    timeouts = top.sub("timeouts")
    connect = timeouts.get("connect", _positive, 2.0)
    total = timeouts.get("total", _positive, 10.0)
    timeouts.done()
    if connect > total:
        raise ConfigError(
            "timeouts.connect", f"{connect} s is longer than timeouts.total ({total} s)"
        )

    contracts = top.sub("contracts")
    phase1 = contracts.get("phase1", path_of, None)
    phase2 = contracts.get("phase2", path_of, None)
    contracts.done()
    translations = top.get("translations", path_of, None)

    validation = top.sub("validation")
    responses = validation.get("responses", _choice("enforce", "report", "off"), "enforce")
    validation.done()

    limits = top.sub("limits")
    max_body = limits.get("max_body_bytes", _int, 1 << 20)
    max_up = limits.get("max_upstream_body_bytes", _int, 16 << 20)
    limits.done()
    for key, value in (
        ("limits.max_body_bytes", max_body),
        ("limits.max_upstream_body_bytes", max_up),
    ):
        if value < 1024:
            raise ConfigError(key, f"expected at least 1024 bytes, got {value}")

    routing = _routing(top.sub("routing"), upstreams)
    admin_r = top.sub("admin")
    admin = AdminConfig(
        admin_r.get("host", _str, "127.0.0.1"),
        admin_r.get("port", _admin_port, DEFAULT_ADMIN_PORT),
        admin_r.get("token_env", _str, "SHIMGW_ADMIN_TOKEN"),
    )
    admin_r.done()
    if admin.port is not None and admin.port == port and admin.port != 0:
        raise ConfigError("admin.port", "must differ from listen.port")

    rb = top.sub("rollback")
    rollback = RollbackConfig(
        rb.get("enabled", _bool, True),
        rb.get("max_error_rate", _fraction, 0.02),
        rb.get("max_p99_ms", _positive, 800.0),
        rb.get("min_requests", _int, 50),
        rb.get("window_s", _positive, 60.0),
        rb.get("health_failures", _int, 0),
        rb.get("health_interval_s", _positive, 5.0),
    )
    rb.done()

    log = top.sub("logging")
    level = log.get("level", _choice("debug", "info", "warning", "error"), "info")
    access = log.get("access", _bool, True)
    log.done()
    tracing = top.sub("tracing")
    ratio = tracing.get("sample_ratio", _fraction, 0.0)
    tracing.done()
    cache = top.sub("cache")
    cache_max_bytes = cache.get("max_bytes", _int, 8 << 20)
    cache.done()
    if cache_max_bytes < 0:
        raise ConfigError("cache.max_bytes", f"expected 0 (off) or more, got {cache_max_bytes}")
    transport = top.get("upstream_transport", _choice("fast", "aiohttp"), "fast")
    if transport == "fast":
        for name, up in upstreams.items():
            if not up.url.startswith("http://"):
                raise ConfigError(
                    f"upstreams.{name}.url",
                    "https needs `upstream_transport: aiohttp` (the fast transport is plain http)",
                )
    top.done()
    return Config(
        source,
        digest,
        host,
        port,
        MappingProxyType(upstreams),
        connect,
        total,
        phase1,
        phase2,
        translations,
        responses,
        max_body,
        max_up,
        routing,
        admin,
        rollback,
        level,
        access,
        ratio,
        transport,
        cache_max_bytes,
        MappingProxyType(raw or {}),
    )


def _routing(r: _Reader, upstreams: Mapping[str, UpstreamConfig]) -> RoutingConfig:
    key = r.get("key", _str, "header:X-Api-Key")
    if key != "client_address" and not (key.startswith("header:") and len(key) > 7):
        raise ConfigError(r.path("key"), f"expected header:<Name> or client_address, got {key!r}")
    salt = r.get("salt", _str, "shimgw")
    routes_raw: dict[str, Any] = r.get("routes", _dict, {})
    routes = MappingProxyType(
        {
            str(op): _weights(w, f"{r.path('routes')}.{op}", upstreams)
            for op, w in routes_raw.items()
        }
    )
    groups = []
    raw_groups: list[Any] = r.get("groups", _list, [])
    for i, g in enumerate(raw_groups):
        gr = _Reader(g, f"{r.path('groups')}[{i}]")
        name = gr.get("name", _str, f"group{i}")
        header = gr.get("header", _str, None)
        values: list[str] = gr.get("values", _str_list, [])
        keys: list[str] = gr.get("key_sha256", _str_list, [])
        weights = gr.get("weights", lambda v, k: _weights(v, k, upstreams), None)
        pin = gr.get("upstream", _str, None)
        gr.done()
        if pin is not None:
            if pin not in upstreams or weights is not None:
                raise ConfigError(
                    gr.path("upstream"), "expected one known upstream (and no weights beside it)"
                )
            weights = MappingProxyType({pin: 1})
        if weights is None:
            raise ConfigError(gr.key, "a group needs `weights` or `upstream`")
        if (header is None) == (not keys):
            raise ConfigError(gr.key, "a group matches by `header` + `values` or by `key_sha256`")
        if header is not None and not values:
            raise ConfigError(gr.path("values"), "list the header values of this group")
        bad = [k for k in keys if len(k) != 64 or any(c not in "0123456789abcdef" for c in k)]
        if bad:
            raise ConfigError(
                gr.path("key_sha256"), f"not a lower-case SHA-256 hex digest: {bad[0]}"
            )
        groups.append(GroupConfig(name, header, frozenset(values), frozenset(keys), weights))
    force = r.get("force_header", _str, "X-Shimgw-Upstream")
    r.done()
    return RoutingConfig(key, salt, routes, tuple(groups), force)


def _headers_from_env(raw: Mapping[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    out = []
    for name, variable in raw.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ConfigError(where, "not an HTTP header name")
        value = os.environ.get(_str(variable, where), "")
        if not value or "\r" in value or "\n" in value:
            raise ConfigError(where, f"environment variable {variable} is unset or not one line")
        out.append((name, value))
    return tuple(out)


def _str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, "expected a list of strings")
    return value


def _dict(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(key, "expected a mapping")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(key, "expected a list")
    return value


def admin_token(config: Config) -> str | None:
    """The admin token from the environment variable the config names (never from the file)."""
    token = os.environ.get(config.admin.token_env, "")
    return token or None
