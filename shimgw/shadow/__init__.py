"""Shadow comparison: sampled copies of calls to a second arm, compared in the Phase 1 shape."""
