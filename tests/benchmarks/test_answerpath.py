"""benchmarks/answerpath.py cannot rot: its scenarios still translate the /v2 answers they
mean to time into the Phase 1 answers the clients expect, and the script runs end to end.
No speed is asserted (CI machines are loaded)."""

from __future__ import annotations

import json

import orjson
import pytest

from benchmarks import answerpath


def test_each_scenario_translates_the_answer_it_times() -> None:
    snapshot = answerpath.bundled_snapshot()
    answers = {}
    for scenario in answerpath.SCENARIOS:
        fns = answerpath.steps(snapshot, scenario)
        assert set(fns) == set(answerpath.STEPS)
        fns["total"]()  # raises if any check refuses the scenario
        answers[scenario.name] = fns["to_phase1"]()
    assert answers["getJob"].status == 200
    assert orjson.loads(answers["getJob"].body)["job_id"] == 42
    listed = orjson.loads(answers["listJobs"].body)
    assert len(listed["jobs"]) == 20
    assert (listed["page"], listed["per_page"], listed["total"]) == (1, 20, 20)
    assert answers["createJob"].status == 201
    assert orjson.loads(answers["createJob"].body)["status"] == "QUEUED"


def test_main_prints_every_step_of_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    answerpath.main(["--n", "20", "--json"])
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"getJob", "listJobs", "createJob"}
    for row in results.values():
        assert set(row) == set(answerpath.STEPS)
        assert all(value > 0 for value in row.values())
