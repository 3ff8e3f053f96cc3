"""shimgw: Phase 1 compatibility gateway in front of the /v2 orchestrator."""

__version__ = "0.1.0"
