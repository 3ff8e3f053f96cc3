"""The project's contracts are exact copies of the canonical ones in ../shared/openapi."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "openapi"


@pytest.mark.parametrize("name", ["phase1.yaml", "phase2.yaml"])
def test_contract_is_canonical_copy(name: str) -> None:
    if not SHARED.is_dir():
        pytest.skip("no ../shared/openapi beside this checkout")
    ours, canonical = (REPO / "openapi" / name).read_bytes(), (SHARED / name).read_bytes()
    assert ours == canonical, (
        f"openapi/{name} differs from ../shared/openapi/{name}: copy the "
        "canonical one in and let the tests show what changed"
    )
