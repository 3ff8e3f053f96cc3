"""shimgw's Grafana dashboard, as code.

Regenerate: `python deploy/grafana/build.py > deploy/grafana/shimgw.json`.

Built with grafana-foundation-sdk (Grafana's own typed builders) rather than hand-kept JSON:
panel, target and threshold shapes come from Grafana's schema, so the JSON stays importable
as Grafana changes. tests/deploy/test_dashboard.py checks that the committed JSON is what
this file builds and that every query parses as PromQL and names only metrics and labels a
running gateway exports.

Layout: the rollout's KPIs per arm (stable and canary side by side), then per operation,
then the canary's machinery (weights, rollbacks, probes), then the gateway's own health
(reloads, contract violations, upstream errors by kind), then who still calls Phase 1
(per client and operation, for the sunset).
"""

from __future__ import annotations

import json
import sys

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
OPS = 'operation=~"$operation"'
ARM = 'upstream!="-"'  # answered before an arm was picked (404, 400): no arm


def query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).range()


def panel(
    title: str, unit: str, queries: list[prometheus.Dataquery], *, width: int = 8
) -> timeseries.Panel:
    built = (
        timeseries.Panel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(8)
        .span(width)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    for ref, target in zip("ABCDEFGH", queries, strict=False):
        built = built.with_target(target.ref_id(ref))
    return built


def kpi(limit: float) -> dashboard.ThresholdsConfig:
    """A red line at the KPI's limit."""
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green"), Threshold(value=limit, color="red")])
    )


def error_ratio(by: str, selector: str = ARM) -> str:
    errors = f'sum by ({by}) (rate(shimgw_requests_total{{{selector}, status=~"5.."}}[{RATE}]))'
    total = f"sum by ({by}) (rate(shimgw_requests_total{{{selector}}}[{RATE}]))"
    return f"{errors}\n  / {total}"


def quantile(q: float, by: str, selector: str = ARM) -> str:
    buckets = f"rate(shimgw_request_duration_seconds_bucket{{{selector}}}[{RATE}])"
    return f"histogram_quantile({q}, sum by ({by}, le) ({buckets}))"


def kpi_row(builder: dashboard.Dashboard) -> dashboard.Dashboard:
    shown = common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
    return (
        builder.with_row(dashboard.Row("Rollout KPIs, per arm"))
        .with_panel(
            panel(
                "Throughput per arm",
                "reqps",
                [query(f"sum by (upstream) (rate(shimgw_requests_total[{RATE}]))", "{{upstream}}")],
            )
        )
        .with_panel(
            panel(
                "5xx ratio per arm (KPI < 0.1 %)",
                "percentunit",
                [
                    query(error_ratio("upstream"), "{{upstream}}"),
                    query(
                        f'sum(rate(shimgw_requests_total{{status=~"5.."}}[{RATE}]))\n'
                        f"  / sum(rate(shimgw_requests_total[{RATE}]))",
                        "all",
                    ),
                ],
            )
            .thresholds(kpi(0.001))
            .thresholds_style(shown)
        )
        .with_panel(
            panel(
                "p95 and p99 latency per arm (KPI p95 < 300 ms)",
                "s",
                [
                    query(quantile(0.95, "upstream"), "p95 {{upstream}}"),
                    query(quantile(0.99, "upstream"), "p99 {{upstream}}"),
                ],
            )
            .thresholds(kpi(0.3))
            .thresholds_style(shown)
        )
    )


def operation_row(builder: dashboard.Dashboard) -> dashboard.Dashboard:
    selector = f"{ARM}, {OPS}"
    return (
        builder.with_row(dashboard.Row("Per operation and arm"))
        .with_panel(
            panel(
                "Throughput",
                "reqps",
                [
                    query(
                        "sum by (operation, upstream) "
                        f"(rate(shimgw_requests_total{{{OPS}}}[{RATE}]))",
                        "{{operation}} {{upstream}}",
                    )
                ],
            )
        )
        .with_panel(
            panel(
                "5xx ratio",
                "percentunit",
                [query(error_ratio("operation, upstream", selector), "{{operation}} {{upstream}}")],
            ).thresholds(kpi(0.001))
        )
        .with_panel(
            panel(
                "p95 / p99",
                "s",
                [
                    query(
                        quantile(0.95, "operation, upstream", selector),
                        "p95 {{operation}} {{upstream}}",
                    ),
                    query(
                        quantile(0.99, "operation, upstream", selector),
                        "p99 {{operation}} {{upstream}}",
                    ),
                ],
            ).thresholds(kpi(0.3))
        )
    )


def canary_row(builder: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        builder.with_row(dashboard.Row("Canary: weights, rollbacks, probes"))
        .with_panel(
            panel(
                "Effective vs configured weight",
                "short",
                [
                    query(
                        "max by (upstream) (shimgw_upstream_effective_weight)",
                        "effective {{upstream}}",
                    ),
                    query(
                        "max by (upstream) (shimgw_upstream_configured_weight)",
                        "configured {{upstream}}",
                    ),
                ],
            )
        )
        .with_panel(
            panel(
                "Automatic rollbacks",
                "short",
                [
                    query(
                        f"sum by (upstream, reason) (increase(shimgw_rollbacks_total[{RATE}]))",
                        "{{upstream}} {{reason}}",
                    ),
                    query(
                        "max by (upstream) (shimgw_upstream_rolled_back)",
                        "held at 0: {{upstream}}",
                    ),
                ],
            )
        )
        .with_panel(
            panel(
                "Health probes (1 = last /v2/health answered 200)",
                "short",
                [query("min by (upstream) (shimgw_upstream_up)", "{{upstream}}")],
            )
        )
    )


def gateway_row(builder: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        builder.with_row(dashboard.Row("Gateway: reloads, contracts, upstream errors"))
        .with_panel(
            panel(
                "Reloads",
                "short",
                [
                    query(
                        f"sum by (result) (increase(shimgw_reloads_total[{RATE}]))",
                        "{{result}}",
                    ),
                    query("min(shimgw_config_last_reload_successful)", "last reload applied"),
                ],
            )
        )
        .with_panel(
            panel(
                "Contract violations",
                "short",
                [
                    query(
                        "sum by (direction, operation) "
                        f"(increase(shimgw_contract_violations_total[{RATE}]))",
                        "{{direction}} {{operation}}",
                    )
                ],
            )
        )
        .with_panel(
            panel(
                "Upstream errors by kind",
                "reqps",
                [
                    query(
                        f"sum by (upstream, kind) (rate(shimgw_upstream_errors_total[{RATE}]))",
                        "{{upstream}} {{kind}}",
                    )
                ],
            )
        )
    )


def usage_row(builder: dashboard.Dashboard) -> dashboard.Dashboard:
    # `client`: a name from the config's `clients`, else unnamed; `operation`: an
    # operationId, or unmatched for requests no route took.
    return builder.with_row(dashboard.Row("Phase 1 usage (the sunset)")).with_panel(
        panel(
            "Phase 1 usage by client",
            "reqps",
            [
                query(
                    "sum by (client, operation) "
                    f"(rate(shimgw_phase1_requests_total{{{OPS}}}[{RATE}]))",
                    "{{client}} {{operation}}",
                )
            ],
            width=24,
        )
    )


def build() -> dashboard.Dashboard:
    builder = (
        dashboard.Dashboard("shimgw")
        .uid("shimgw")
        .description("Phase 1 → /v2 gateway: rollout KPIs, canary, reloads, contracts")
        .tags(["shimgw"])
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("operation")
            .label("Operation")
            .datasource(DATASOURCE)
            .query("label_values(shimgw_requests_total, operation)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    for row in (kpi_row, operation_row, canary_row, gateway_row, usage_row):
        builder = row(builder)
    return builder


def render() -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
