"""The dashboard and the alert rules query what a running gateway exports.

Every PromQL expression in deploy/grafana/shimgw.json and deploy/prometheus/alerts.yaml
must parse (promql-parser, a port of Prometheus' parser) and name only metric names and
label names found in a live gateway's /metrics after traffic that makes every series
appear: answers from both arms, a 404, a contract violation, an unreachable upstream, a
refused reload, an automatic rollback.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from collections import defaultdict

import pytest
import yaml
from gwsupport import ADMIN_TOKEN, REPO, Gateway, GatewayFactory
from prometheus_client.parser import text_string_to_metric_families
from promql_refs import metrics, parse, references

from shimgw.reference import Fault, RunStore

DASHBOARD = REPO / "deploy" / "grafana" / "shimgw.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
LABEL_VALUES = re.compile(r"^label_values\((\w+),\s*(\w+)\)$")
FORCE = {"X-Shimgw-Upstream": "canary", "X-Shimgw-Admin-Token": ADMIN_TOKEN}


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            metric, label = LABEL_VALUES.match(variable["query"]).groups()
            exprs.append(f"count by ({label}) ({metric})")
    return exprs


def alert_queries() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


QUERIES = dashboard_queries() + alert_queries()


def test_the_dashboard_json_is_what_its_builder_makes() -> None:
    spec = importlib.util.spec_from_file_location("build", DASHBOARD.parent / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == DASHBOARD.read_text(), (
        "deploy/grafana/shimgw.json is stale: python deploy/grafana/build.py > it"
    )


def test_every_alert_links_a_runbook_section() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text().splitlines()
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    for rule in rules:
        assert rule["annotations"]["runbook"] == f"docs/runbook.md#{rule['alert'].lower()}"
        assert f"### {rule['alert']}" in runbook


def test_there_are_queries_to_check() -> None:
    assert len(dashboard_queries()) >= 15 and len(alert_queries()) == 8


@pytest.mark.parametrize("expr", QUERIES)
def test_every_query_parses_as_promql(expr: str) -> None:
    assert metrics(parse(expr)), expr


def exported(text: str) -> dict[str, set[str]]:
    """Sample name → label names, as Prometheus would store them."""
    out: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] |= set(sample.labels)
    return out


def unknown(expr: str, seen: dict[str, set[str]]) -> list[str]:
    tree = parse(expr)
    problems = [f"metric {name}" for name in sorted(metrics(tree)) if name not in seen]
    for ref in references(tree):
        if ref.metric is not None and ref.metric not in seen:
            continue
        if ref.metric is not None and ref.label not in seen[ref.metric]:
            problems.append(f"label {ref.label} on {ref.metric}")
        elif ref.metric is None and not any(ref.label in seen.get(m, ()) for m in ref.scope):
            problems.append(f"label {ref.label} in a grouping over {sorted(ref.scope)}")
    return problems


def test_the_check_catches_a_wrong_name() -> None:
    seen = {"shimgw_requests_total": {"operation", "status", "upstream"}}
    wrong = 'sum by (arm) (rate(shimgw_requests_total{stat="500"}[5m])) / shimgw_request'
    assert unknown(wrong, seen) == [
        "metric shimgw_request",
        "label stat on shimgw_requests_total",
        "label arm in a grouping over ['shimgw_requests_total']",
    ]


async def every_series(gateway: Gateway, store: RunStore) -> None:
    """Traffic that makes each metric the queries use show up with all its labels."""
    for i in range(30):
        assert (await gateway.call("GET", "/api/v1/jobs/1", key=f"k{i}")).status == 200
    await gateway.call("GET", "/nowhere")
    store.inject(Fault(instance="stable", operation="getRun", status=200, body=b"<html>"))
    assert (await gateway.call("GET", "/api/v1/jobs/1", headers={})).status == 502
    dead = {"X-Shimgw-Upstream": "dead", "X-Shimgw-Admin-Token": ADMIN_TOKEN}
    assert (await gateway.call("GET", "/api/v1/jobs/1", headers=dead)).status in (502, 503)
    # A canary answering 500s beside a healthy stable is rolled back.
    store.inject(Fault(instance="canary", operation="getRun", status=500, times=-1))
    for _ in range(2):
        for _ in range(6):
            await gateway.call("GET", "/api/v1/jobs/1", headers=FORCE)
        await asyncio.sleep(0.3)  # windows are judged at most every 0.25 s
    store.clear_faults()
    good = gateway.config_path.read_text()
    gateway.config_path.write_text("upstreams: {stable: {weight: -1}}\n")
    async with gateway.session.post(
        f"{gateway.admin_url}/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as resp:
        assert resp.status == 422
    gateway.config_path.write_text(good)


async def test_queries_name_only_what_a_running_gateway_exports(
    make_gateway: GatewayFactory, store: RunStore
) -> None:
    gateway = await make_gateway(
        {"stable": 1, "canary": 1},
        rollback={"min_requests": 5, "max_error_rate": 0.1, "window_s": 60},
    )
    config = yaml.safe_load(gateway.config_path.read_text())
    config["upstreams"]["dead"] = {"url": "http://127.0.0.1:9", "weight": 0}  # nothing listens
    gateway.write_config(config)
    async with gateway.session.post(
        f"{gateway.admin_url}/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as resp:
        assert resp.status == 200
    await every_series(gateway, store)
    async with gateway.session.get(f"{gateway.admin_url}/metrics") as resp:
        seen = exported(await resp.text())
    assert seen["shimgw_upstream_rolled_back"], "the traffic did not roll the canary back"
    problems: dict[str, list[str]] = {}
    for expr in QUERIES:
        found = unknown(expr, seen)
        if found:
            problems[expr] = found
    assert not problems, f"queries naming what the gateway does not export: {problems}"
