"""Phase 1 usage: requests per operation and client, for the sunset of Phase 1.

Theory of operation
-------------------
A client is named in the config (`clients: [{name, key_sha256}]`) by the
SHA-256 of its routing key (the value `routing.key` names, `X-Api-Key` by
default): the same digest `key_sha256` groups match, computed once per
request by the handler (`routing.canary.key_digest`). Every other key, and a
request without one, is `unnamed`. So the client label takes the configured
names plus one value, whatever clients send; the key and its hash are never
a label, a log field or an admin answer.

A request is counted once, when it is answered (or cut off by a shutdown),
under the operation its route matched, or `unmatched` when none did (404,
405): the path itself is never a label.

Counts live in a `UsageBook` for the life of the process: one `Cell` per
(client, operation) with its count, first and last seen, and the Prometheus
child of `shimgw_phase1_requests_total{operation,client}` (made at the pair's
first request, so pairs never seen export no series). Each snapshot carries
`UsageSlots`, made from the book when the snapshot is attached: digest →
client index, and per operation a tuple of cells by client index, so counting
is two lookups, a tuple index and a few attribute writes.

Reload: cells are keyed by client name, so counts survive any reload. A client
removed from the config keeps its counts (`configured: false` in
`/admin/usage`, its series stays) until the process restarts; its keys count
as `unnamed` from the reload on (a client renamed starts again under the new
name). Memory is bounded by (clients named since start + 1) × (operations + 1)
cells, whatever keys and paths arrive.

Under `--workers N` each process keeps its own book and publishes it as a
`UsageShare` (shares.py) about once a second; worker 0's `/admin/usage` adds
the others' shares to its own live book: counts summed, first seen the
earliest, last seen the latest. The metric is summed over workers (and pods)
by Prometheus.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client import Counter

from shimgw.config import UNNAMED_CLIENT, ClientConfig

UNNAMED = UNNAMED_CLIENT  # every key no configured client lists, and no key at all
UNMATCHED = "unmatched"  # the operation of a request no route matched


def rfc3339(epoch: float) -> str:
    """UTC, whole seconds: `2027-01-15T08:00:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class Cell:
    """One (client, operation) pair: its count, first and last seen, its metric child."""

    __slots__ = ("_child", "_counter", "client", "count", "first", "last", "operation")

    def __init__(self, counter: Counter, client: str, operation: str) -> None:
        self.client, self.operation = client, operation
        self.count = 0
        self.first = self.last = 0.0
        self._counter = counter
        self._child: Counter | None = None

    def hit(self, now: float) -> None:
        child = self._child
        if child is None:  # the pair's first request: its series starts now
            child = self._child = self._counter.labels(self.operation, self.client)
            self.first = now
        self.count += 1
        self.last = now
        child.inc()


@dataclass(frozen=True, slots=True)
class UsageSlots:
    """One snapshot's view of the book: its clients' digests and a cell per pair."""

    index: Mapping[str | None, int]  # key digest → client index; absent (or None): unnamed
    cells: Mapping[str, tuple[Cell, ...]]  # operation → cells by client index
    unmatched: tuple[Cell, ...]

    def count(self, operation: str, digest: str | None, now: float) -> None:
        """One request: `operation` as routed ("-": none), `digest` its `key_digest`."""
        self.cells.get(operation, self.unmatched)[self.index.get(digest, 0)].hit(now)


class UsageBook:
    """Every (client, operation) cell since the process started; outlives snapshots."""

    def __init__(self, counter: Counter, *, started: float | None = None) -> None:
        self._counter = counter
        self._cells: dict[tuple[str, str], Cell] = {}
        self.started = time.time() if started is None else started

    @property
    def cells(self) -> int:
        return len(self._cells)

    def _cell(self, client: str, operation: str) -> Cell:
        cell = self._cells.get((client, operation))
        if cell is None:
            cell = self._cells[(client, operation)] = Cell(self._counter, client, operation)
        return cell

    def slots(self, clients: tuple[ClientConfig, ...], operations: Iterable[str]) -> UsageSlots:
        """The cells a snapshot with these clients and operations counts into."""
        names = (UNNAMED, *(c.name for c in clients))
        index: dict[str | None, int] = {
            digest: i for i, c in enumerate(clients, 1) for digest in c.key_sha256
        }
        by_operation = {op: tuple(self._cell(n, op) for n in names) for op in operations}
        return UsageSlots(
            index=MappingProxyType(index),
            cells=MappingProxyType(by_operation),
            unmatched=tuple(self._cell(n, UNMATCHED) for n in names),
        )

    def share(self) -> UsageShare:
        """What this process counted, for the admin worker to add up (shares.py)."""
        cells = tuple(
            Tally(client=c.client, operation=c.operation, count=c.count, first=c.first, last=c.last)
            for c in self._cells.values()
            if c.count
        )
        return UsageShare(since=self.started, cells=cells)

    def describe(
        self, clients: tuple[ClientConfig, ...], others: Sequence[UsageShare] = ()
    ) -> dict[str, Any]:
        """`/admin/usage`: every configured client (calls or not), `unnamed`, and clients
        a reload removed that still have counts; `others` are other workers' books."""
        merged: dict[tuple[str, str], Tally] = {}
        for share in (self.share(), *others):
            for tally in share.cells:
                key = (tally.client, tally.operation)
                seen = merged.get(key)
                merged[key] = tally if seen is None else seen.plus(tally)
        configured = [c.name for c in clients]
        by_client: dict[str, list[Tally]] = {name: [] for name in (*configured, UNNAMED)}
        for tally in merged.values():
            by_client.setdefault(tally.client, []).append(tally)
        return {
            "since": rfc3339(min([self.started, *(o.since for o in others)])),
            "processes": 1 + len(others),
            "clients": {
                name: _client(tallies, configured=name in configured or name == UNNAMED)
                for name, tallies in by_client.items()
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """One (client, operation) pair's count and first/last seen, as a value."""

    client: str
    operation: str
    count: int
    first: float
    last: float

    def plus(self, other: Tally) -> Tally:
        return Tally(
            client=self.client,
            operation=self.operation,
            count=self.count + other.count,
            first=min(self.first, other.first),
            last=max(self.last, other.last),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "first_seen": rfc3339(self.first),
            "last_seen": rfc3339(self.last),
        }


@dataclass(frozen=True, slots=True)
class UsageShare:
    """One process's book as data: written by each worker, read by the admin worker."""

    since: float
    cells: tuple[Tally, ...]

    def to_json(self) -> dict[str, Any]:
        rows = [[t.client, t.operation, t.count, t.first, t.last] for t in self.cells]
        return {"since": self.since, "cells": rows}

    @classmethod
    def from_json(cls, data: Any) -> UsageShare:
        """ValueError for anything but what `to_json` writes (a torn or foreign file)."""
        try:
            cells = tuple(
                Tally(client=c, operation=o, count=n, first=float(f), last=float(la))
                for c, o, n, f, la in data["cells"]
                if type(c) is str and type(o) is str and type(n) is int and n > 0
            )
            return cls(since=float(data["since"]), cells=cells)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a usage share: {exc}") from exc


def _client(tallies: list[Tally], *, configured: bool) -> dict[str, Any]:
    return {
        "configured": configured,
        "count": sum(t.count for t in tallies),
        "first_seen": rfc3339(min(t.first for t in tallies)) if tallies else None,
        "last_seen": rfc3339(max(t.last for t in tallies)) if tallies else None,
        "operations": {t.operation: t.describe() for t in sorted(tallies, key=_by_operation)},
    }


def _by_operation(tally: Tally) -> str:
    return tally.operation
