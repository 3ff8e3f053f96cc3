"""The legacy Phase 1 backend's own data: jobs, log lines and engines, in Phase 1 terms.

The legacy backend is what Phase 1 clients talked to before /v2 existed, so
its store speaks Phase 1 natively (integer ids, epoch seconds, priority
names) and shares nothing with the /v2 reference's `RunStore`. For a cutover
to be rehearsed the two must start from the same world, so `seed_legacy`
converts the demo runs once, with its own code (MAPPING.md's "Run → Job"
written out by hand, not the gateway's compiled mapping): when the two agree
on every seeded job, that is independent evidence the mapping is right.

`missing_owner` is the one knob that makes legacy disagree on purpose: what
it writes as the owner of a job that has none (the mapping writes ""), so
tests and the demo can watch a known difference appear in the shadow diffs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shimgw.reference.store import (
    TERMINAL_STATES,
    Fault,
    FiredFault,
    RunStore,
    SeenRequest,
    Violation,
    seed_demo,
)
from shimgw.translate.transforms import escape_line, rfc3339_to_epoch

JOB_TERMINAL = TERMINAL_STATES  # same names in both vocabularies
_STATE_OF_RUN = {"PENDING": "QUEUED", "SCHEDULED": "QUEUED"}


def priority_name(value: int) -> str:
    return "high" if value >= 67 else "normal" if value >= 34 else "low"


@dataclass
class Job:
    job_id: int
    name: str
    engine: str
    owner: str | None  # None: a job from before owners were recorded
    status: str
    priority: str
    created: int
    updated: int
    params: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    started: int | None = None
    finished: int | None = None
    exit_code: int | None = None
    callback_url: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in JOB_TERMINAL

    def to_json(self, missing_owner: str = "") -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "engine": self.engine,
            "owner": self.owner if self.owner is not None else missing_owner,
            "status": self.status,
            "priority": self.priority,
            "params": dict(self.params),
            "tags": list(self.tags),
            "created": self.created,
            "updated": self.updated,
            "started": self.started,
            "finished": self.finished,
            "exit_code": self.exit_code,
            "callback_url": self.callback_url,
        }


@dataclass(frozen=True)
class LogLine:
    epoch: int
    stream: str
    message: str

    def render(self) -> str:
        return f"{self.epoch} {self.stream} {escape_line(self.message)}\n"


class LegacyStore:
    """Jobs plus the tests' window onto the wire (`seen`, `violations`, faults)."""

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.logs: dict[int, list[LogLine]] = {}
        self.engines: set[str] = set()
        self.seen: list[SeenRequest] = []
        self.violations: list[Violation] = []
        # The fault queue is the /v2 reference's own (same Fault type, same semantics).
        self._faults = RunStore()
        self._last_id = 0

    @property
    def fired(self) -> list[FiredFault]:
        return self._faults.fired

    def inject(self, fault: Fault) -> Fault:
        return self._faults.inject(fault)

    def take_fault(self, operation: str | None) -> Fault | None:
        return self._faults.take_fault("legacy", operation)

    def add(self, job: Job) -> Job:
        self.jobs[job.job_id] = job
        self.logs.setdefault(job.job_id, [])
        self._last_id = max(self._last_id, job.job_id)
        return job

    def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def delete(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)
        self.logs.pop(job_id, None)

    def newest_first(self) -> list[Job]:
        return sorted(self.jobs.values(), key=lambda j: j.job_id, reverse=True)


def seed_legacy(store: LegacyStore, runs: RunStore | None = None) -> LegacyStore:
    """The demo world (or `runs`'s), converted once into the legacy store."""
    source = runs if runs is not None else seed_demo(RunStore())
    store.engines = {p.id for p in source.plugins if p.enabled}
    for run in sorted(source.runs.values(), key=lambda r: r.id):
        store.add(
            Job(
                job_id=run.id,
                name=run.display_name,
                engine=run.plugin_id,
                owner=run.labels.get("owner"),
                status=_STATE_OF_RUN.get(run.state, run.state),
                priority=priority_name(run.priority),
                created=rfc3339_to_epoch(run.create_time),
                updated=rfc3339_to_epoch(run.update_time),
                params=dict(run.parameters),
                tags=list(run.tags),
                started=rfc3339_to_epoch(run.start_time) if run.start_time else None,
                finished=rfc3339_to_epoch(run.end_time) if run.end_time else None,
                exit_code=run.exit_code,
                callback_url=run.notification_url,
            )
        )
        store.logs[run.id] = [
            LogLine(rfc3339_to_epoch(e.timestamp), e.stream, e.message)
            for e in source.logs.get(run.id, [])
        ]
    return store
