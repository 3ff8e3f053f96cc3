"""Every error a Phase 1 client can see carries a status that phase1.yaml promises somewhere."""

from __future__ import annotations

import pytest

from shimgw import errors, resources
from shimgw.contracts.document import load_contract


def _kinds(cls: type[errors.GatewayError]) -> list[type[errors.GatewayError]]:
    return [cls, *(k for sub in cls.__subclasses__() for k in _kinds(sub))]


PROMISED = frozenset().union(
    *(
        op.promised_statuses
        for op in load_contract(resources.phase1_contract(), "phase1").operations.values()
    )
)


# Answered before any operation matched (no operation's list applies): the path or the
# method is not in phase1.yaml at all.
ROUTE_LEVEL = (errors.RouteNotFound, errors.MethodNotAllowed)


@pytest.mark.parametrize(
    "kind",
    [k for k in _kinds(errors.GatewayError) if not issubclass(k, ROUTE_LEVEL)],
    ids=lambda k: k.__name__,
)
def test_every_error_kind_has_a_phase1_status(kind: type[errors.GatewayError]) -> None:
    assert kind.status in PROMISED, f"{kind.__name__}.status {kind.status} is not in phase1.yaml"


def test_an_error_that_names_no_status_is_a_502() -> None:
    assert errors.GatewayError("unforeseen").status == 502
