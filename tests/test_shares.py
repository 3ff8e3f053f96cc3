"""Worker shares without sockets: books written as data, read back, added up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter

from shimgw.config import ClientConfig
from shimgw.shadow.book import DiffBook, DiffShare, Sample, Side
from shimgw.shadow.compare import Observed, judge
from shimgw.shares import DIFFS, USAGE, ShareDir
from shimgw.usage import UNNAMED, UsageBook, UsageShare, rfc3339

T0 = 1_800_000_000.0
ACME = ClientConfig("acme", frozenset({"a" * 64}))


def usage_book(started: float = T0) -> UsageBook:
    counter = Counter("shimgw_phase1_requests", "x", ["operation", "client"], registry=None)
    return UsageBook(counter, started=started)


def counted(book: UsageBook, digest: str | None, operation: str, *times: float) -> None:
    slots = book.slots((ACME,), ("getJob", "listJobs"))
    for at in times:
        slots.count(operation, digest, at)


def test_usage_adds_up_every_process_book() -> None:
    mine, theirs = usage_book(), usage_book(started=T0 - 50)
    counted(mine, "a" * 64, "getJob", T0 + 10, T0 + 20)
    counted(theirs, "a" * 64, "getJob", T0 + 5, T0 + 30, T0 + 31)
    counted(theirs, None, "listJobs", T0 + 7)
    share = UsageShare.from_json(theirs.share().to_json())  # through JSON, as on disk
    out = mine.describe((ACME,), [share])
    assert out["processes"] == 2
    assert out["since"] == rfc3339(T0 - 50)  # the oldest process's start
    acme = out["clients"]["acme"]
    assert acme["count"] == 5
    assert acme["operations"]["getJob"] == {
        "count": 5,
        "first_seen": rfc3339(T0 + 5),
        "last_seen": rfc3339(T0 + 31),
    }
    assert out["clients"][UNNAMED]["operations"]["listJobs"]["count"] == 1


def test_a_client_only_another_process_saw_after_its_removal_is_listed_unconfigured() -> None:
    mine, theirs = usage_book(), usage_book()
    counted(theirs, "a" * 64, "getJob", T0 + 1)
    out = mine.describe((), [theirs.share()])  # acme no longer configured here
    assert out["clients"]["acme"]["configured"] is False
    assert out["clients"]["acme"]["count"] == 1


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"since": T0},
        {"cells": []},
        {"since": "soon", "cells": []},
        {"since": T0, "cells": "x"},
        {"since": T0, "cells": [["acme", "getJob", 1]]},
    ],
)
def test_a_torn_or_foreign_usage_share_is_refused(data: Any) -> None:
    with pytest.raises(ValueError, match="not a usage share"):
        UsageShare.from_json(data)


def test_usage_share_rows_that_count_nothing_are_left_out() -> None:
    rows = [["acme", "getJob", 0, T0, T0], ["acme", "getJob", True, T0, T0], [1, "x", 2, T0, T0]]
    assert UsageShare.from_json({"since": T0, "cells": rows}).cells == ()


def sample(at: float, pointer: str) -> Sample:
    answer = Observed(status=200, headers={}, content_type="application/json", body=b"{}")
    side = Side.of("stable", answer, ())
    return Sample(
        operation="getJob",
        at=at,
        request="GET /api/v1/jobs/1",
        request_id=f"r{at}",
        pointers=(pointer,),
        noise=(),
        primary=side,
        shadow=side,
    )


def recorded(book: DiffBook, *samples: Sample) -> DiffBook:
    for s in samples:
        book.record("getJob", judge(set(s.pointers), ignore=frozenset(), noise=frozenset()), s)
    return book


def test_diffs_add_up_counts_fields_noise_and_keep_the_newest_samples() -> None:
    mine = recorded(DiffBook(keep=3), sample(1, "/a"), sample(4, "/b"))
    theirs = recorded(DiffBook(keep=3), sample(2, "/a"), sample(3, "/a"), sample(5, "/c"))
    share = DiffShare.from_json(theirs.share("v1", {"getJob": frozenset({"/x"})}).to_json())
    assert share.version == "v1"
    out = mine.describe({"getJob": frozenset({"/y"})}, [share])
    getjob = out["operations"]["getJob"]
    assert out["processes"] == 2
    assert getjob["counts"]["differ"] == 5 and getjob["compared"] == 5
    assert getjob["pointers"] == {"/a": 3, "/b": 1, "/c": 1}
    assert getjob["noise"] == ["/x", "/y"]
    assert [s["at"] for s in out["samples"]] == [5, 4, 3]  # newest first, `keep` of them


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"version": "v", "counts": {}, "fields": {}, "noise": {}},
        {"version": 3, "counts": {}, "fields": {}, "noise": {}, "samples": []},
        {"version": "v", "counts": [], "fields": {}, "noise": {}, "samples": []},
        {"version": "v", "counts": {}, "fields": {}, "noise": {}, "samples": [{"at": "x"}]},
    ],
)
def test_a_torn_or_foreign_diff_share_is_refused(data: Any) -> None:
    with pytest.raises(ValueError, match="not a diff share"):
        DiffShare.from_json(data)


def test_share_dir_reads_every_other_process_and_skips_what_does_not_parse(
    tmp_path: Path,
) -> None:
    worker0, worker1 = ShareDir(tmp_path, pid=100), ShareDir(tmp_path, pid=101)
    dead = ShareDir(tmp_path, pid=99)  # a crashed worker's last share still counts
    for n, share_dir in enumerate((worker0, worker1, dead)):
        share_dir.publish(USAGE, {"since": T0, "cells": [["acme", "getJob", n + 1, T0, T0]]})
    (tmp_path / f"{USAGE}-102.json").write_bytes(b'{"since": 1, "cel')  # torn
    (tmp_path / f"{DIFFS}-103.json").write_bytes(b"{}")  # another kind
    others = worker0.others(USAGE, UsageShare.from_json)
    assert sorted(s.cells[0].count for s in others) == [2, 3]  # not its own (1), not torn
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_share_dir_writes_only_what_changed(tmp_path: Path) -> None:
    share_dir = ShareDir(tmp_path, pid=7)
    share_dir.publish(USAGE, {"n": 1})
    first = (tmp_path / f"{USAGE}-7.json").stat().st_ino
    share_dir.publish(USAGE, {"n": 1})
    assert (tmp_path / f"{USAGE}-7.json").stat().st_ino == first  # not rewritten
    share_dir.publish(USAGE, {"n": 2})
    assert (tmp_path / f"{USAGE}-7.json").read_bytes() == b'{"n":2}'


def test_a_missing_share_dir_reads_as_no_other_process(tmp_path: Path) -> None:
    assert ShareDir(tmp_path / "gone", pid=1).others(USAGE, UsageShare.from_json) == []
