"""Where a request goes: the Phase 1 route table and the canary split (both sans-IO)."""
