"""Where the bundled contracts and translations are.

In a checkout (or an editable install) they are the top-level `openapi/` and
`translations/` folders; a built wheel carries copies under `shimgw/_bundled/`.
The bundled copy wins when present, so an installed gateway never reads a
stray checkout beside it.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[-1]


def bundled_root() -> Path:
    """The folder holding `openapi/` and `translations/`."""
    return _first_existing(_PACKAGE / "_bundled", _PACKAGE.parent)


def phase1_contract() -> Path:
    return bundled_root() / "openapi" / "phase1.yaml"


def phase2_contract() -> Path:
    return bundled_root() / "openapi" / "phase2.yaml"


def translations_dir() -> Path:
    return bundled_root() / "translations"
