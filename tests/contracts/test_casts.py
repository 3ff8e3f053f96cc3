"""Parameter text → the type its schema names; a number that overflows a float stays text,
so the schema refuses it by its own words and no non-finite float enters a request (the
sent check's shortcut counts on that: translate/exact.py)."""

from __future__ import annotations

import pytest

from shimgw.contracts.validators import _caster


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5", 1.5), ("-2", -2.0), ("1e3", 1000.0), ("1e999", "1e999"), ("-1e999", "-1e999")],
)
def test_number_parameters(text: str, expected: object) -> None:
    got = _caster({"type": "number"})(text)
    assert got == expected
    assert type(got) is type(expected)
