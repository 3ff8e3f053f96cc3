"""`shimgw check --generate`: generated examples pass on the bundled files and find a
drift the translations let through, with its smallest counterexample."""

from __future__ import annotations

import dataclasses

import yaml

from shimgw import resources
from shimgw.generate import generate_all
from shimgw.snapshot import load_sources
from shimgw.translate.language import parse_documents


def test_bundled_translations_pass_generated_examples() -> None:
    problems, counts = generate_all(load_sources(None), 5, 0)
    assert problems == []
    assert set(counts) == {
        "listJobs", "createJob", "getJob", "deleteJob", "cancelJob",
        "setJobPriority", "getJobLogs", "listEngines", "getStatus",
    }  # fmt: skip
    assert all(c["answers"] >= 1 and c["requests"] >= 1 for c in counts.values())


def test_run_0_is_found_and_shrunk_when_the_rule_lets_it_through() -> None:
    docs = {
        p.name: yaml.safe_load(p.read_text())
        for p in sorted(resources.translations_dir().glob("*.yaml"))
    }
    docs["_common.yaml"]["shapes"]["job"]["object"]["job_id"]["pipe"].pop()  # no `within`
    for name in list(docs):  # getJob alone keeps the run short
        if name not in ("_common.yaml", "getJob.yaml"):
            del docs[name]
    sources = dataclasses.replace(
        load_sources(None), translations=parse_documents(list(docs.items()))
    )
    problems, _ = generate_all(sources, 15, 0)
    assert len(problems) == 1
    line = str(problems[0])
    assert line.startswith("getJob (generated answer): the Phase 1 answer breaks phase1.yaml:")
    assert "job_id" in line and "smallest counterexample" in line and "'run-0'" in line
