"""In-memory reference implementation of the /v2 orchestrator contract (openapi/phase2.yaml).

Used by the gateway's integration tests, `shimgw demo` and the benchmarks.
"""

from shimgw.reference.app import build_app
from shimgw.reference.contract import Contract, RequestInfo, load_contract
from shimgw.reference.server import RunningInstance, start_reference, stop_reference
from shimgw.reference.store import (
    Fault,
    FiredFault,
    Health,
    LogEntry,
    Plugin,
    Run,
    RunStore,
    SeenRequest,
    Violation,
    seed_demo,
)

__all__ = [
    "Contract",
    "Fault",
    "FiredFault",
    "Health",
    "LogEntry",
    "Plugin",
    "RequestInfo",
    "Run",
    "RunStore",
    "RunningInstance",
    "SeenRequest",
    "Violation",
    "build_app",
    "load_contract",
    "seed_demo",
    "start_reference",
    "stop_reference",
]
