"""benchmarks/requestpath.py cannot rot: its scenarios still build the calls they mean to
time, and the script runs end to end. No speed is asserted (CI machines are loaded)."""

from __future__ import annotations

import json

import pytest

from benchmarks import requestpath
from shimgw.snapshot import ProxyOperation


def test_each_scenario_builds_the_v2_call_it_times() -> None:
    snapshot = requestpath.bundled_snapshot()
    calls = {}
    for scenario in requestpath.SCENARIOS:
        operation, _ = snapshot.routes.match(scenario.method, scenario.path)
        op = snapshot.operations[operation]
        assert isinstance(op, ProxyOperation)
        fns = requestpath.steps(snapshot, scenario)
        assert set(fns) == set(requestpath.STEPS)
        fns["total"]()  # raises if any step refuses the scenario
        calls[scenario.name] = fns["to_v2"]()
    assert calls["getJob"].path == "/v2/runs/run-42"
    assert calls["getJob"].headers["Authorization"] == "Bearer bench-key"
    assert calls["listJobs"].query == {
        "state": ["PENDING", "SCHEDULED"],
        "label": ["owner=alice"],
        "pageSize": 50,
        "skip": 100,
    }
    assert calls["createJob"].body["priority"] == 80
    assert calls["createJob"].content_type == "application/json"


def test_main_prints_every_step_of_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    requestpath.main(["--n", "5", "--json"])
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"getJob", "listJobs", "createJob"}
    for row in results.values():
        assert set(row) == set(requestpath.STEPS)
        assert all(value > 0 for value in row.values())
