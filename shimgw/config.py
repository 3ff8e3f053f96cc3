"""The configuration file: YAML → one frozen `Config`, every error naming its key.

Parsing is strict on purpose: an unknown key is far more often a typo
(`wieght: 5`) than a wish, and a typo in a canary weight is an outage.
Relative paths are taken from the config file's folder.

Each YAML section is one frozen dataclass below, and each of its keys one field
that carries its default and its reader (`setting(default, reader)`): adding a
key is adding a field (the readers of one value are in configvalues.py).
`parse_config` walks `Config`'s fields in order; a plain section is read by
`_section` from its fields alone, the few keys whose default or check depends on
another section (upstream weights, routes, groups) have a reader of their own,
and checks that span sections run once all are read.
"""

from __future__ import annotations

import dataclasses
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

from shimgw import configvalues as cv
from shimgw import yamlfile
from shimgw.configvalues import Read, path_setting, section, setting
from shimgw.errors import ConfigError
from shimgw.files import read_regular
from shimgw.shadow.rules import ShadowLimits, ShadowRule, parse_limits, parse_rules

T = TypeVar("T")
S = TypeVar("S")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_HEX = frozenset("0123456789abcdef")
UNNAMED_CLIENT = "unnamed"  # the usage counts' name for every key no client lists
DEFAULT_ADMIN_PORT: int | None = 9180


# --- the sections ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ListenConfig:
    host: str = setting("127.0.0.1", cv.string)
    port: int = setting(8080, cv.port)
    server_header: str = setting("shimgw", cv.header_value)  # the `Server` header of every answer


@dataclass(frozen=True, kw_only=True, slots=True)
class UpstreamConfig:
    name: str
    url: str
    weight: int
    max_connections: int = setting(128, cv.at_least(1))  # calls in flight (one per connection)
    max_queue: int = setting(128, cv.at_least(0))  # calls waiting for a slot ≤ timeouts.connect s
    # Sent on every call to this upstream, values read from the environment (never the file).
    # (YAML `headers_env`: header name → variable name)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # v2: an orchestrator, calls translated; phase1: a legacy backend, calls passed through
    protocol: str = setting("v2", cv.choice("v2", "phase1"))
    # Never serves; the only arm unsafe shadows reach.
    shadow_only: bool = setting(False, cv.boolean)

    def __post_init__(self) -> None:
        if self.shadow_only and self.weight > 0:
            raise ConfigError(
                f"upstreams.{self.name}.weight", "a shadow_only upstream never serves: weight 0"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class TimeoutsConfig:
    connect: float = setting(2.0, cv.positive)
    total: float = setting(10.0, cv.positive)
    # The Phase 1 edge: a whole request head, a whole body, an idle keep-alive connection.
    client_header: float = setting(10.0, cv.positive)
    client_body: float = setting(30.0, cv.positive)
    client_idle: float = setting(75.0, cv.positive)

    def __post_init__(self) -> None:
        if self.connect > self.total:
            raise ConfigError(
                "timeouts.connect",
                f"{self.connect} s is longer than timeouts.total ({self.total} s)",
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class ContractsConfig:
    phase1: Path | None = path_setting()  # None: the bundled contract
    phase2: Path | None = path_setting()


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidationConfig:
    responses: str = setting("enforce", cv.choice("enforce", "report", "off"))


@dataclass(frozen=True, kw_only=True, slots=True)
class LimitsConfig:
    max_body_bytes: int = setting(1 << 20, cv.byte_size)
    max_upstream_body_bytes: int = setting(16 << 20, cv.byte_size)
    max_connections: int = setting(4096, cv.at_least(1))  # open Phase 1 connections per process
    per_client_rps: float = setting(0.0, cv.non_negative)  # 0: no per-client rate limit


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupConfig:
    """A client group: matched by a header value or by SHA-256 hashes of routing keys."""

    name: str
    header: str | None = None
    values: frozenset[str] = frozenset()
    key_sha256: frozenset[str] = frozenset()
    weights: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A named client for the Phase 1 usage counts: SHA-256 hashes of its routing keys."""

    name: str
    key_sha256: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class RoutingConfig:
    key: str = setting("header:X-Api-Key", cv.string)  # "header:<Name>" or "client_address"
    salt: str = setting("shimgw", cv.string)
    # Phase 1 operationId → weights; both read by `_routing` (they name upstreams)
    routes: Mapping[str, Mapping[str, int]] = setting(MappingProxyType({}), None)
    groups: tuple[GroupConfig, ...] = setting((), None)
    force_header: str = setting("X-Shimgw-Upstream", cv.string)
    shadow: tuple[ShadowRule, ...] = setting((), None)  # read by `_routing` (shadow/rules.py)

    def __post_init__(self) -> None:
        if self.key != "client_address" and not (
            self.key.startswith("header:") and len(self.key) > 7
        ):
            raise ConfigError(
                "routing.key", f"expected header:<Name> or client_address, got {self.key!r}"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class AdminConfig:
    host: str = setting("127.0.0.1", cv.string)
    port: int | None = setting(DEFAULT_ADMIN_PORT, cv.admin_port)  # None: no admin listener
    token_env: str = setting("SHIMGW_ADMIN_TOKEN", cv.string)


@dataclass(frozen=True, kw_only=True, slots=True)
class RollbackConfig:
    enabled: bool = setting(True, cv.boolean)
    max_error_rate: float = setting(0.02, cv.fraction)
    max_p99_ms: float = setting(800.0, cv.positive)
    min_requests: int = setting(50, cv.integer)
    window_s: float = setting(60.0, cv.positive)
    health_failures: int = setting(0, cv.integer)  # 0: no health probes
    health_interval_s: float = setting(5.0, cv.positive)


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggingConfig:
    level: str = setting("info", cv.choice("debug", "info", "warning", "error"))
    access: bool = setting(True, cv.boolean)


@dataclass(frozen=True, kw_only=True, slots=True)
class TracingConfig:
    """Fallbacks for the standard OTEL_* variables, which win when set (tracing.py)."""

    sample_ratio: float = setting(0.0, cv.fraction)  # OTEL_TRACES_SAMPLER(_ARG)
    exporter: str = setting("none", cv.choice("none", "otlp"))  # OTEL_TRACES_EXPORTER
    endpoint: str | None = setting(None, cv.string)  # OTEL_EXPORTER_OTLP(_TRACES)_ENDPOINT


@dataclass(frozen=True, kw_only=True, slots=True)
class ShutdownConfig:
    """SIGTERM: `/readyz` answers 503 at once and the listeners keep serving `drain_s` (load
    balancers stop sending), then in-flight requests get `grace_s` to finish."""

    drain_s: float = setting(5.0, cv.non_negative)
    grace_s: float | None = setting(None, cv.positive)  # None: timeouts.total


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheConfig:
    max_bytes: int = setting(8 << 20, cv.integer)  # 0: no answer memo

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise ConfigError("cache.max_bytes", f"expected 0 (off) or more, got {self.max_bytes}")


# --- reading --------------------------------------------------------------------------------


def load_config(path: Path) -> Config:
    try:
        data = read_regular(path)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yamlfile.load(data)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML: {' '.join(str(exc).split())}") from exc
    return parse_config(
        raw, base=path.resolve().parent, source=path, digest=hashlib.sha256(data).hexdigest()
    )


class _Reader:
    """Reads one mapping, remembering which keys were used so leftovers are errors."""

    def __init__(self, raw: Any, key: str, base: Path) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(key or "config", "expected a mapping")
        self.raw, self.key, self.base, self.used = raw, key, base, set[str]()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, kind: Callable[[Any, str], T], default: T) -> T:
        self.used.add(name)
        if name not in self.raw or self.raw[name] is None:
            return default
        return kind(self.raw[name], self.path(name))

    def sub(self, name: str) -> _Reader:
        self.used.add(name)
        return _Reader(self.raw.get(name), self.path(name), self.base)

    def setting(self, spec: dataclasses.Field[Any]) -> Any:
        """One key as its field declares it (default and reader)."""
        read: Read = spec.metadata["read"]
        default = spec.default
        if default is dataclasses.MISSING:
            default = spec.default_factory()  # type: ignore[operator]
        if spec.metadata.get("relative"):
            base = self.base
            return self.get(spec.name, lambda v, k: cv.path_value(v, k, base), default)
        return self.get(spec.name, read, default)

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.raw if k not in self.used)
        if unknown:
            raise ConfigError(self.path(unknown[0]), "unknown key")


def _section(r: _Reader, cls: Callable[..., S], **given: Any) -> S:
    """A section from its fields alone; `given` supplies the fields without a reader."""
    values = dict(given)
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        if spec.metadata.get("read") is not None:
            values[spec.name] = r.setting(spec)
    r.done()
    return cls(**values)


def parse_config(raw: Any, *, base: Path, source: Path | None = None, digest: str = "") -> Config:
    top = _Reader(raw, "", base)
    values: dict[str, Any] = {"source": source, "digest": digest}
    for spec in dataclasses.fields(Config):
        if spec.metadata.get("reader") is not None:
            values[spec.name] = spec.metadata["reader"](top.sub(spec.name), values)
        elif "section" in spec.metadata:
            values[spec.name] = _section(top.sub(spec.name), spec.metadata["section"])
        elif "read" in spec.metadata:
            values[spec.name] = top.setting(spec)
    top.done()
    return Config(**values, raw=MappingProxyType(raw or {}))


def _upstreams(r: _Reader, _: Mapping[str, Any]) -> Mapping[str, UpstreamConfig]:
    if not r.raw:
        raise ConfigError("upstreams", "at least one upstream is required")
    default_weight = 1 if len(r.raw) == 1 else 0
    upstreams = {str(n): _upstream(r.sub(str(n)), str(n), default_weight) for n in r.raw}
    if sum(u.weight for u in upstreams.values()) == 0:
        raise ConfigError("upstreams", "all weights are 0: no upstream would serve")
    return MappingProxyType(upstreams)


def _upstream(entry: _Reader, name: str, default_weight: int) -> UpstreamConfig:
    url = entry.get("url", cv.string, "")
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
    env_headers: dict[str, Any] = entry.get("headers_env", cv.mapping, {})
    return _section(
        entry,
        UpstreamConfig,
        name=name,
        url=url.rstrip("/"),
        weight=entry.get("weight", cv.weight, default_weight),
        headers=_headers_from_env(env_headers, entry.path("headers_env")),
    )


def _headers_from_env(raw: Mapping[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    out = []
    for name, variable in raw.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ConfigError(where, "not an HTTP header name")
        value = os.environ.get(cv.string(variable, where), "")
        if not value or "\r" in value or "\n" in value:
            raise ConfigError(where, f"environment variable {variable} is unset or not one line")
        out.append((name, value))
    return tuple(out)


def _routing(r: _Reader, read: Mapping[str, Any]) -> RoutingConfig:
    upstreams: Mapping[str, UpstreamConfig] = read["upstreams"]
    routes_raw: dict[str, Any] = r.get("routes", cv.mapping, {})
    routes = {
        str(op): _weights(w, f"{r.path('routes')}.{op}", upstreams) for op, w in routes_raw.items()
    }
    raw_groups: list[Any] = r.get("groups", cv.sequence, [])
    groups = tuple(
        _group(_Reader(g, f"{r.path('groups')}[{i}]", r.base), i, upstreams)
        for i, g in enumerate(raw_groups)
    )
    shadow = parse_rules(r.raw.get("shadow"), r.path("shadow"), upstreams, (g.name for g in groups))
    r.used.add("shadow")
    _never_serving(routes, groups, upstreams, r.key)
    return _section(r, RoutingConfig, routes=MappingProxyType(routes), groups=groups, shadow=shadow)


def _never_serving(
    routes: Mapping[str, Mapping[str, int]],
    groups: tuple[GroupConfig, ...],
    upstreams: Mapping[str, UpstreamConfig],
    key: str,
) -> None:
    """A shadow_only arm gets no clients: no route or group may weigh it."""
    weighed = [(f"{key}.routes.{op}", w) for op, w in routes.items()]
    weighed += [(f"{key}.groups[{g.name}]", g.weights) for g in groups]
    for where, weights in weighed:
        for name, weight in weights.items():
            if weight > 0 and upstreams[name].shadow_only:
                raise ConfigError(f"{where}.{name}", "a shadow_only upstream never serves clients")


def _shadowing(r: _Reader, _: Mapping[str, Any]) -> ShadowLimits:
    r.used.update(str(k) for k in r.raw)  # parse_limits names unknown keys itself
    return parse_limits(r.raw, r.key)


def _group(gr: _Reader, index: int, upstreams: Mapping[str, UpstreamConfig]) -> GroupConfig:
    name = gr.get("name", cv.string, f"group{index}")
    header = gr.get("header", cv.string, None)
    values: list[str] = gr.get("values", cv.str_list, [])
    keys: list[str] = gr.get("key_sha256", cv.str_list, [])
    weights = gr.get("weights", lambda v, k: _weights(v, k, upstreams), None)
    pin = gr.get("upstream", cv.string, None)
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
    for i, digest in enumerate(keys):
        _digest(digest, f"{gr.path('key_sha256')}[{i}]")
    return GroupConfig(
        name=name,
        header=header,
        values=frozenset(values),
        key_sha256=frozenset(keys),
        weights=weights,
    )


def _digest(value: str, key: str) -> str:
    # Never echoed: a value pasted here by mistake may be the key itself, not its hash.
    if len(value) != 64 or not _HEX.issuperset(value):
        raise ConfigError(
            key, "not a lower-case SHA-256 hex digest (64 characters 0-9a-f) of a routing key"
        )
    return value


def _clients(raw: Any, key: str) -> tuple[ClientConfig, ...]:
    """`clients: [{name, key_sha256}]`; each name and each hash in one client only."""
    named: dict[str, str] = {}  # name → where it was given
    owner: dict[str, str] = {}  # hash → client name
    out = []
    for i, entry in enumerate(cv.sequence(raw, key)):
        where = f"{key}[{i}]"
        r = _Reader(entry, where, Path("."))
        name = r.get("name", cv.string, "")
        digests: Any = r.get("key_sha256", lambda v, _: v, [])
        r.done()
        if not name:
            raise ConfigError(r.path("name"), "expected a non-empty string")
        _client_name(name, r.path("name"))
        if name in named:
            raise ConfigError(r.path("name"), f"{name!r} is also {named[name]}")
        named[name] = where
        listed = [digests] if isinstance(digests, str) else digests
        if not isinstance(listed, list) or not listed:
            raise ConfigError(r.path("key_sha256"), "list at least one SHA-256 hex digest")
        for j, digest in enumerate(listed):
            at = f"{r.path('key_sha256')}[{j}]"
            _digest(digest if isinstance(digest, str) else "", at)
            if digest in owner:
                raise ConfigError(at, f"this hash is also listed by client {owner[digest]!r}")
            owner[digest] = name
        out.append(ClientConfig(name, frozenset(listed)))
    return tuple(out)


def _client_name(name: str, key: str) -> None:
    if name == UNNAMED_CLIENT:
        raise ConfigError(key, f"{UNNAMED_CLIENT!r} is reserved for keys no client lists")
    if len(name) > 64:
        raise ConfigError(key, f"a client name is at most 64 characters, got {len(name)}")
    if not _CLIENT_NAME.match(name):
        raise ConfigError(
            key, f"a client name is letters, digits, '.', '_' and '-' (a label value), got {name!r}"
        )


def _weights(raw: Any, key: str, upstreams: Mapping[str, Any]) -> Mapping[str, int]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(key, "expected upstream: weight pairs")
    out = {}
    for name, weight in raw.items():
        if name not in upstreams:
            raise ConfigError(f"{key}.{name}", f"unknown upstream (known: {', '.join(upstreams)})")
        out[str(name)] = cv.weight(weight, f"{key}.{name}")
    if sum(out.values()) == 0:
        raise ConfigError(key, "all weights are 0: no upstream would serve")
    return MappingProxyType(out)


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """The whole file. Fields are read in this order, so the first error named is the
    first bad key in the order of the README's reference."""

    source: Path | None = None
    digest: str = ""
    listen: ListenConfig = section(ListenConfig)
    upstreams: Mapping[str, UpstreamConfig] = field(metadata={"reader": _upstreams})
    timeouts: TimeoutsConfig = section(TimeoutsConfig)
    contracts: ContractsConfig = section(ContractsConfig)
    translations: Path | None = path_setting()  # None: the bundled folder
    validation: ValidationConfig = section(ValidationConfig)
    limits: LimitsConfig = section(LimitsConfig)
    routing: RoutingConfig = section(RoutingConfig, _routing)
    # Named clients of the Phase 1 usage counts (usage.py); every other key is `unnamed`.
    clients: tuple[ClientConfig, ...] = setting((), _clients)
    admin: AdminConfig = section(AdminConfig)
    rollback: RollbackConfig = section(RollbackConfig)
    logging: LoggingConfig = section(LoggingConfig)
    tracing: TracingConfig = section(TracingConfig)
    cache: CacheConfig = section(CacheConfig)
    shadowing: ShadowLimits = field(default=ShadowLimits(), metadata={"reader": _shadowing})
    shutdown: ShutdownConfig = section(ShutdownConfig)
    upstream_transport: str = setting("fast", cv.choice("fast", "aiohttp"))  # fast | aiohttp
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_admin_token(self.admin.token_env)
        admin_port = self.admin.port
        if admin_port is not None and admin_port == self.listen.port and admin_port != 0:
            raise ConfigError("admin.port", "must differ from listen.port")
        if self.upstream_transport == "fast":
            for name, up in self.upstreams.items():
                # A legacy arm always goes through aiohttp's client (legacy_arm.py).
                if not up.url.startswith("http://") and up.protocol != "phase1":
                    raise ConfigError(
                        f"upstreams.{name}.url",
                        "https needs `upstream_transport: aiohttp`"
                        " (the fast transport is plain http)",
                    )


def _check_admin_token(variable: str) -> None:
    """Refuse a token no client could send: the comparison would fail (or raise) forever.

    Never echoes the value. A header value is UTF-8 here, has no control character but an
    inner tab, and no surrounding blanks (HTTP strips them before anyone compares).
    """
    token = os.environ.get(variable, "")
    why = None
    try:
        token.encode()
    except UnicodeEncodeError:
        why = "is not UTF-8 text"
    else:
        if token != token.strip(" \t"):
            why = "starts or ends with a blank (HTTP strips it from the header)"
        elif any((c < " " and c != "\t") or c == "\x7f" for c in token):
            why = "holds a control character no header can carry"
    if why is not None:
        raise ConfigError("admin.token_env", f"environment variable {variable} {why}")


def admin_token(config: Config) -> str | None:
    """The admin token from the environment variable the config names (never from the file)."""
    token = os.environ.get(config.admin.token_env, "")
    return token or None
