"""State shared by every instance of the reference orchestrator.

One `RunStore` backs several apps (e.g. "stable" and "canary") so a test can
create a run through one instance and read it through the other, exactly as
with a real orchestrator behind two deployments. Besides the domain state the
store is the tests' window onto the wire: `seen`, `violations`, `fired` and the
fault queue live here because they must be shared the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
# The request log keeps at least this many of the newest (trimmed in steps of as many, so
# a trim is rare): tests look at the last few, a long `make demo` must not grow forever.
SEEN_KEEP = 10_000

ParamValue = str | int | float | bool


def now_rfc3339() -> str:
    """UTC now as the orchestrator writes it: RFC 3339, milliseconds, `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Plugin:
    id: str
    version: str
    enabled: bool = True
    capabilities: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "enabled": self.enabled,
            "capabilities": list(self.capabilities),
        }


@dataclass
class Run:
    id: int
    display_name: str
    plugin_id: str
    plugin_version: str
    state: str
    create_time: str
    update_time: str
    priority: int = 50
    labels: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, ParamValue] = field(default_factory=dict)
    notification_url: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    exit_code: int | None = None
    result_message: str | None = None
    # Bumped on every change so the etag changes with the representation.
    revision: int = 1

    @property
    def name(self) -> str:
        return f"run-{self.id}"

    @property
    def etag(self) -> str:
        return f"{self.name}.{self.revision}"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def touch(self, when: str | None = None) -> None:
        self.revision += 1
        self.update_time = when or now_rfc3339()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.name,
            "displayName": self.display_name,
            "plugin": {"id": self.plugin_id, "version": self.plugin_version},
            "state": self.state,
            "priority": self.priority,
            "labels": dict(self.labels),
            "tags": list(self.tags),
            "parameters": dict(self.parameters),
            "createTime": self.create_time,
            "updateTime": self.update_time,
            "etag": self.etag,
        }
        if self.notification_url is not None:
            doc["notification"] = {"webhook": {"url": self.notification_url}}
        if self.start_time is not None:
            doc["startTime"] = self.start_time
        if self.end_time is not None:
            doc["endTime"] = self.end_time
        if self.exit_code is not None:
            result: dict[str, Any] = {"exitCode": self.exit_code}
            if self.result_message is not None:
                result["message"] = self.result_message
            doc["result"] = result
        return doc


@dataclass(frozen=True)
class LogEntry:
    timestamp: str
    stream: Literal["stdout", "stderr"]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "stream": self.stream, "message": self.message}


@dataclass
class Health:
    status: Literal["SERVING", "NOT_SERVING"] = "SERVING"
    checks: dict[str, Literal["ok", "failing"]] = field(default_factory=lambda: {"store": "ok"})

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "checks": dict(self.checks)}


@dataclass(frozen=True)
class Violation:
    """A way in which a request received, or a response about to be sent, broke phase2.yaml."""

    instance: str
    direction: Literal["request", "response"]
    operation: str | None
    method: str
    path: str
    message: str


@dataclass(frozen=True, kw_only=True)
class SeenRequest:
    instance: str
    operation: str | None
    method: str
    path: str
    query_string: str
    # Repeated headers are joined with ", " (RFC 9110 list syntax) so none is lost.
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Case-insensitive lookup, since `headers` keeps the case the client sent."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass
class Fault:
    """A misbehaviour to produce instead of (or before) the normal answer.

    Exactly one behaviour: `status` (with optional `body`, `content_type`,
    `headers`), `delay` (seconds, then answer normally), `garbage` (raw bytes
    instead of an HTTP response, then close) or `drop` (close without answering).
    """

    instance: str | None = None
    operation: str | None = None
    times: int = 1
    status: int | None = None
    body: bytes | None = None
    content_type: str = "application/problem+json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None
    garbage: bytes | None = None
    drop: bool = False

    def __post_init__(self) -> None:
        chosen = (self.status, self.delay, self.garbage, self.drop or None)
        if sum(c is not None for c in chosen) != 1:
            raise ValueError("a Fault needs exactly one of status, delay, garbage, drop")
        if self.times == 0 or self.times < -1:
            raise ValueError("Fault.times must be positive, or -1 for forever")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Fault.status {self.status} is not an HTTP status")
        if self.delay is not None and self.delay < 0:
            raise ValueError("Fault.delay must not be negative")

    def matches(self, instance: str, operation: str | None) -> bool:
        return (self.instance is None or self.instance == instance) and (
            self.operation is None or self.operation == operation
        )


@dataclass(frozen=True)
class FiredFault:
    instance: str
    operation: str | None
    fault: Fault


@dataclass
class _Armed:
    fault: Fault
    remaining: int


def record_seen(seen: list[SeenRequest], request: SeenRequest) -> None:
    """Append to a request log (`RunStore.seen`, `LegacyStore.seen`), newest last, bounded."""
    seen.append(request)
    if len(seen) > 2 * SEEN_KEEP:
        del seen[:-SEEN_KEEP]


class RunStore:
    def __init__(self) -> None:
        self.runs: dict[int, Run] = {}
        self.plugins: list[Plugin] = []
        self.logs: dict[int, list[LogEntry]] = {}
        self.health = Health()
        # Lets one instance report NOT_SERVING while the other serves.
        self.instance_health: dict[str, Health] = {}
        self.idempotency: dict[str, int] = {}
        self.violations: list[Violation] = []
        self.seen: list[SeenRequest] = []
        self.fired: list[FiredFault] = []
        self._faults: list[_Armed] = []
        # Never reuse an id, even after deletion: ids are legacy job ids.
        self._last_id = 0

    def add_run(self, run: Run) -> Run:
        self.runs[run.id] = run
        self.logs.setdefault(run.id, [])
        self._last_id = max(self._last_id, run.id)
        return run

    def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def get_run(self, run_id: int) -> Run | None:
        return self.runs.get(run_id)

    def delete_run(self, run_id: int) -> None:
        self.runs.pop(run_id, None)
        self.logs.pop(run_id, None)

    def newest_first(self) -> list[Run]:
        # Ids are handed out in creation order, so they order by creation too.
        return sorted(self.runs.values(), key=lambda r: r.id, reverse=True)

    def add_log(self, run_id: int, entry: LogEntry) -> None:
        self.logs.setdefault(run_id, []).append(entry)

    def add_plugin(self, plugin: Plugin) -> Plugin:
        self.plugins.append(plugin)
        return plugin

    def find_plugin(self, plugin_id: str, version: str | None) -> Plugin | None:
        """The enabled plugin to run; without a version, the one installed last."""
        for plugin in reversed(self.plugins):
            if plugin.id != plugin_id or not plugin.enabled:
                continue
            if version is None or plugin.version == version:
                return plugin
        return None

    def health_for(self, instance: str) -> Health:
        return self.instance_health.get(instance, self.health)

    def inject(self, fault: Fault) -> Fault:
        self._faults.append(_Armed(fault, fault.times))
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        return [armed.fault for armed in self._faults]

    def take_fault(self, instance: str, operation: str | None) -> Fault | None:
        """The first armed fault matching this call, counting one use of it."""
        for armed in self._faults:
            if not armed.fault.matches(instance, operation):
                continue
            if armed.remaining > 0:
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._faults.remove(armed)
            self.fired.append(FiredFault(instance, operation, armed.fault))
            return armed.fault
        return None


def seed_demo(store: RunStore) -> RunStore:
    """A small, varied world: enough to exercise every mapping rule of the gateway.

    Corners on purpose: a plugin id installed twice (old version disabled), a run
    without `labels.owner`, a run with a webhook, a timestamp with fractional
    seconds, and log messages carrying a backslash, a CR and an LF.
    """
    for plugin in (
        Plugin("spark", "3.5.1", True, ["batch", "sql"]),
        Plugin("spark", "3.4.0", False, ["batch"]),
        Plugin("flink", "1.19.0", True, ["stream"]),
        Plugin("ray", "2.9.0", False, ["batch", "gpu"]),
        Plugin("shell", "1.0.0", True, []),
    ):
        store.add_plugin(plugin)

    runs = [
        Run(
            id=1,
            display_name="nightly-etl",
            plugin_id="spark",
            plugin_version="3.5.1",
            state="SUCCEEDED",
            create_time="2024-03-01T09:00:00Z",
            update_time="2024-03-01T09:12:41Z",
            start_time="2024-03-01T09:00:05Z",
            end_time="2024-03-01T09:12:41Z",
            exit_code=0,
            result_message="wrote 1204 partitions",
            priority=80,
            labels={"owner": "alice", "team": "data"},
            tags=["etl", "nightly"],
            parameters={"date": "2024-02-29", "shards": 16, "dryRun": False},
        ),
        Run(
            id=2,
            display_name="backfill",
            plugin_id="shell",
            plugin_version="1.0.0",
            state="FAILED",
            create_time="2024-03-01T10:00:00Z",
            update_time="2024-03-01T10:03:00Z",
            start_time="2024-03-01T10:00:02Z",
            end_time="2024-03-01T10:03:00Z",
            exit_code=2,
            result_message="missing input",
            labels={"owner": "bob"},
            notification_url="https://hooks.example.com/runs/2",
            parameters={"ratio": 0.25},
        ),
        Run(
            id=3,
            display_name="stream-join",
            plugin_id="flink",
            plugin_version="1.19.0",
            state="RUNNING",
            create_time="2024-03-02T10:15:00Z",
            update_time="2024-03-02T10:15:30.250Z",
            start_time="2024-03-02T10:15:30.250Z",
            priority=60,
            labels={"owner": "alice", "env": "prod"},
            tags=["stream"],
        ),
        Run(
            id=4,
            display_name="model-train",
            plugin_id="spark",
            plugin_version="3.5.1",
            state="SCHEDULED",
            create_time="2024-03-03T08:00:00Z",
            update_time="2024-03-03T08:00:01Z",
            priority=20,
            labels={"team": "ml"},
        ),
        Run(
            id=5,
            display_name="adhoc-report",
            plugin_id="shell",
            plugin_version="1.0.0",
            state="PENDING",
            create_time="2024-03-04T12:30:00Z",
            update_time="2024-03-04T12:30:00Z",
            labels={"owner": "carol"},
            tags=["adhoc"],
        ),
        Run(
            id=6,
            display_name="abandoned",
            plugin_id="spark",
            plugin_version="3.5.1",
            state="CANCELLED",
            create_time="2024-03-05T07:00:00Z",
            update_time="2024-03-05T07:05:00Z",
            end_time="2024-03-05T07:05:00Z",
            labels={"owner": "bob"},
        ),
    ]
    for run in runs:
        store.add_run(run)

    store.add_log(1, LogEntry("2024-03-01T09:00:05Z", "stdout", "starting nightly-etl"))
    store.add_log(1, LogEntry("2024-03-01T09:06:10.5Z", "stderr", "slow shard 7, retrying"))
    store.add_log(1, LogEntry("2024-03-01T09:12:41Z", "stdout", "done"))
    store.add_log(2, LogEntry("2024-03-01T10:00:02Z", "stdout", "reading C:\\data\\in.csv"))
    store.add_log(2, LogEntry("2024-03-01T10:03:00Z", "stderr", "error: missing input\r\nabort"))
    store.add_log(3, LogEntry("2024-03-02T10:15:30.250Z", "stdout", "job graph submitted"))
    store.add_log(
        3, LogEntry("2024-03-02T10:16:00Z", "stdout", 'path "a\\b"\rprogress 50%\nline two')
    )
    return store
