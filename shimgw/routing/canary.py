"""The canary split: which upstream serves a client.

Theory of operation
-------------------
A client's routing key (by default its API key; configurable to another
header or its address) is hashed, with a per-config salt, into one of
16,384 buckets. Hashing is BLAKE2b, never Python's `hash()`, so every worker
and every restart agrees.

Each bucket is given to an upstream by *weighted rendezvous hashing*: every
(bucket, upstream) pair has a fixed pseudo-random score `-ln(u)`, and the
bucket goes to the upstream with the smallest `score / weight`. That layout
has the two properties SREs rely on:
- while the weights stay, a bucket (so a client) never changes arm;
- raising one upstream's weight only lowers its own ratios, so buckets move
  onto it and never between the others; lowering it only moves buckets off
  it. 5 % → 25 % → 100 % never bounces a client back and forth.
Shares follow the weights up to sampling noise.

The per-pair scores are computed once per (salt, upstream set); a table
bucket → upstream is built once per distinct weight set (default, each route,
each group, and the effective weights after an automatic rollback) and
cached, so picking is one hash and one tuple index.

Precedence: a client group's weights, else the route's, else the defaults;
a forced arm (tester header + admin token) is decided at the edge before.

The SHA-256 of the routing key (`key_digest`), which `key_sha256` groups and
the usage counts' named clients match, is computed once per request by the
handler and handed in (`pick`); only `choose`, the convenience for callers
that have headers alone, computes it itself.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from shimgw.config import GroupConfig, RoutingConfig

BUCKETS = 16384


def _unit(salt: str, bucket: int, upstream: str) -> float:
    digest = hashlib.blake2b(f"{salt}\x00{bucket}\x00{upstream}".encode(), digest_size=8).digest()
    # (n + 0.5) / 2^64 is never 0 or 1, so the log is always finite.
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def key_digest(key: str) -> str:
    """The SHA-256 hex digest of a routing key: what `key_sha256` lists name a client by,
    so an operator can name one without storing its key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def bucket_of(salt: str, key: str) -> int:
    digest = hashlib.blake2b(
        key.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode()[:64]
    ).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class Layout:
    """Scores for one salt and upstream set; tables for weight sets are derived from it."""

    salt: str
    upstreams: tuple[str, ...]
    scores: tuple[tuple[float, ...], ...]  # [bucket][upstream index]

    @classmethod
    def build(cls, salt: str, upstreams: tuple[str, ...]) -> Layout:
        return _layout(salt, upstreams)

    def table(self, weights: Mapping[str, int]) -> tuple[str, ...]:
        live = [
            (i, float(weights.get(name, 0)))
            for i, name in enumerate(self.upstreams)
            if weights.get(name, 0) > 0
        ]
        if not live:
            raise ValueError("no upstream has a weight above 0")
        names = self.upstreams
        return tuple(names[min(live, key=lambda iw: row[iw[0]] / iw[1])[0]] for row in self.scores)


@functools.lru_cache(maxsize=8)
def _layout(salt: str, upstreams: tuple[str, ...]) -> Layout:
    # Pure in its arguments, and ~0.1 s per upstream to compute: reloads that keep the
    # salt and the upstream names (the common case: a weight change) reuse it.
    return Layout(
        salt,
        upstreams,
        tuple(tuple(-math.log(_unit(salt, b, name)) for name in upstreams) for b in range(BUCKETS)),
    )


def _frozen(weights: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((k, v) for k, v in weights.items() if v > 0))


class Picker:
    """Chooses an upstream; built once per snapshot, tables cached per weight set.

    Its only mutable state is the table cache, which a reload drops with the
    snapshot; a rollback asks for tables of new (effective) weights.
    """

    def __init__(
        self, routing: RoutingConfig, weights: Mapping[str, int], layout: Layout | None = None
    ) -> None:
        self.routing = routing
        self.weights = MappingProxyType(dict(weights))
        names = tuple(sorted(weights))
        self.layout = (
            layout
            if layout is not None and layout.upstreams == names and layout.salt == routing.salt
            else Layout.build(routing.salt, names)
        )
        self._tables: dict[tuple[tuple[str, int], ...], tuple[str, ...]] = {}
        # id(table) → its one arm, for tables where every bucket names the same arm: then
        # the key need not be hashed (the answer is the same for every bucket).
        self._uniform: dict[int, str] = {}
        self._key_header = routing.key[7:].lower() if routing.key.startswith("header:") else None
        # Tables for the weight sets the config names, looked up without sorting per request.
        self._default = self.table_for(weights)
        self._routes = {op: self.table_for(w) for op, w in routing.routes.items()}
        self._groups = tuple((g, self.table_for(g.weights)) for g in routing.groups)
        self.hashes_keys = any(g.key_sha256 for g in routing.groups)  # needs `key_digest`

    def table_for(self, weights: Mapping[str, int]) -> tuple[str, ...]:
        frozen = _frozen(weights)
        table = self._tables.get(frozen)
        if table is None:
            table = self._tables[frozen] = self.layout.table(dict(frozen))
            if len(set(table)) == 1:
                self._uniform[id(table)] = table[0]  # kept alive by self._tables
        return table

    def routing_key(self, headers: Mapping[str, str], client_address: str | None) -> str | None:
        """The value `routing.key` names: a header's, or the client's address."""
        return headers.get(self._key_header) if self._key_header is not None else client_address

    def group_of(self, headers: Mapping[str, str], digest: str | None) -> GroupConfig | None:
        """The client's group; `digest` is `key_digest` of its routing key (None: no key)."""
        for group, _ in self._groups:
            if _in_group(group, headers, digest):
                return group
        return None

    def weights_for(
        self, operation: str, headers: Mapping[str, str], digest: str | None
    ) -> Mapping[str, int]:
        group = self.group_of(headers, digest) if self._groups else None
        if group is not None:
            return group.weights
        return self.routing.routes.get(operation, self.weights)

    def choose(
        self,
        operation: str,
        headers: Mapping[str, str],
        client_address: str | None,
        disabled: frozenset[str] = frozenset(),
    ) -> str:
        """`pick` for a caller that has the headers and address alone."""
        key = self.routing_key(headers, client_address)
        digest = key_digest(key) if key is not None and self.hashes_keys else None
        return self.pick(operation, headers, key, digest, disabled)

    def pick(
        self,
        operation: str,
        headers: Mapping[str, str],
        key: str | None,
        digest: str | None,
        disabled: frozenset[str] = frozenset(),
    ) -> str:
        """The arm for a request whose routing key (and, when `hashes_keys`, its
        `key_digest`) the caller already has."""
        if disabled:
            table = self.table_for(
                _without(self.weights_for(operation, headers, digest), disabled, self.weights)
            )
        else:
            table = self._table(operation, headers, digest)
        only = self._uniform.get(id(table))
        if only is not None:
            return only
        # No key: any arm will do, but by the same weights.
        bucket = bucket_of(self.routing.salt, key) if key else random.randrange(BUCKETS)
        return table[bucket]

    def _table(
        self, operation: str, headers: Mapping[str, str], digest: str | None
    ) -> tuple[str, ...]:
        for group, table in self._groups:
            if _in_group(group, headers, digest):
                return table
        return self._routes.get(operation, self._default)


def _in_group(group: GroupConfig, headers: Mapping[str, str], digest: str | None) -> bool:
    if group.header is not None:
        return headers.get(group.header.lower()) in group.values
    # `key_sha256` lists hashes of routing keys (`routing.key`), whichever header or
    # address that is, so an operator can name a client without storing its key.
    return digest is not None and digest in group.key_sha256


def _without(
    weights: Mapping[str, int], disabled: frozenset[str], defaults: Mapping[str, int]
) -> Mapping[str, int]:
    """Weights with rolled-back upstreams at 0; if nothing is left, the others share evenly."""
    kept = {k: v for k, v in weights.items() if k not in disabled and v > 0}
    if kept:
        return kept
    return {k: 1 for k in defaults if k not in disabled} or dict(weights)
