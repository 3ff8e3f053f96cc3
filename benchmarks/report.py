"""report.json (every number), report.md (the tables) and report.png (the curves).

Every ratio is shimgw ÷ the naive proxy, and is only printed when the upstream's
own ceiling, measured in the same run, is at least twice the faster proxy's
throughput: closer than that, the upstream would be part of what is measured.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

BASELINE = "naive"
CEILING_FACTOR = 2.0
TABLE_CONCURRENCY = 32  # the targets are stated at c=32
RSS_FLAT_BYTES_PER_REQ = 20  # 2 MB over 100,000 requests: noise, not a leak


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None or math.isnan(value) else format(value, fmt)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def ratio_allowed(row: dict[str, Any], name: str) -> bool:
    """False when the upstream's ceiling is within CEILING_FACTOR of either proxy."""
    ceiling = row["upstream"]["rps"] or 0.0
    fastest = max(row["proxies"][BASELINE]["rps"] or 0.0, row["proxies"][name]["rps"] or 0.0)
    return ceiling >= CEILING_FACTOR * fastest


def ratios(row: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    """(throughput ratio, p99 ratio) of a variant, or (None, None) when refused."""
    if not ratio_allowed(row, name):
        return None, None
    b, s = row["proxies"][BASELINE], row["proxies"][name]
    return _ratio(s["rps"], b["rps"]), _ratio(s["p99_ms"], b["p99_ms"])


def cpu_ratio(row: dict[str, Any], name: str) -> float | None:
    """Naive CPU µs per request ÷ shimgw's: the throughput ratio one core each would give,
    less sensitive than rps to other work on a shared machine."""
    return _ratio(
        row["proxies"][BASELINE]["cpu_us_per_req"], row["proxies"][name]["cpu_us_per_req"]
    )


def _load(*runs: dict[str, Any]) -> str:
    loads = [r["load_1m"] for r in runs if r.get("load_1m") is not None]
    return "–" if not loads else f"{min(loads):.1f}–{max(loads):.1f}"


def main_table(result: dict[str, Any]) -> list[str]:
    variants = result["meta"]["variants"]
    lines = [
        "| scenario | c | shimgw config | naive rps | shimgw rps | ratio | p99 ms naive / shimgw "
        "| p99 ratio | CPU µs/req naive / shimgw | per-core ratio | upstream ceiling rps "
        "| load avg |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result["rows"]:
        b = row["proxies"][BASELINE]
        for name, label in variants.items():
            s = row["proxies"][name]
            rps_ratio, p99_ratio = ratios(row, name)
            refused = "refused: upstream < 2× proxy"
            runs = [*row["runs"][BASELINE], *row["runs"][name]]
            lines.append(
                f"| {row['scenario']} | {row['concurrency']} | {label} "
                f"| {_num(b['rps'], ',.0f')} | {_num(s['rps'], ',.0f')} "
                f"| {refused if not ratio_allowed(row, name) else _num(rps_ratio, '.2f') + '×'} "
                f"| {_num(b['p99_ms'], '.2f')} / {_num(s['p99_ms'], '.2f')} "
                f"| {_num(p99_ratio, '.2f')} "
                f"| {_num(b['cpu_us_per_req'], '.0f')} / {_num(s['cpu_us_per_req'], '.0f')} "
                f"| {_num(cpu_ratio(row, name), '.2f')}× "
                f"| {_num(row['upstream']['rps'], ',.0f')} | {_load(*runs)} |"
            )
    return lines


def _row(result: dict[str, Any], scenario: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in result["rows"]
            if r["scenario"] == scenario and r["concurrency"] == TABLE_CONCURRENCY
        ),
        None,
    )


def scale_table(result: dict[str, Any]) -> list[str]:
    """CPU µs per getJob at c=32 and what one core would serve at that cost."""
    row = _row(result, "getJob")
    if row is None:
        return []
    lines = [
        "| getJob, c=32 | rps | CPU µs/req | projected rps per core |",
        "|---|--:|--:|--:|",
    ]

    def add(label: str, rps: float | None, cpu: float | None) -> None:
        per_core = 1e6 / cpu if cpu else None
        lines.append(
            f"| {label} | {_num(rps, ',.0f')} | {_num(cpu, '.0f')} | {_num(per_core, ',.0f')} |"
        )

    up = row["upstream"]
    add(
        f"{result['meta']['upstream']} upstream (physical reference)",
        up["rps"],
        up["cpu_us_per_req"],
    )
    b = row["proxies"][BASELINE]
    add("naive proxy, 1 process, pinned", b["rps"], b["cpu_us_per_req"])
    name = next(iter(result["meta"]["variants"]))
    s = row["proxies"][name]
    add(f"shimgw {name}, --workers 1, pinned", s["rps"], s["cpu_us_per_req"])
    w = result.get("workers")
    if w and w.get("available"):
        add(f"shimgw {name}, --workers 2, unpinned", w["rps"], w["cpu_us_per_req"])
    elif w:
        lines.append(f"| shimgw --workers 2: not available ({w['message']}) | | | |")
    return lines


def targets(result: dict[str, Any]) -> list[str]:
    """Issue 12's targets, each met or not, from this run's numbers."""
    out = []

    def check(scenario: str, name: str, what: str, ok: Any) -> None:
        row = _row(result, scenario)
        if row is None or name not in row["proxies"]:
            out.append(f"- {what}: not measured in this run")
            return
        rps, p99 = ratios(row, name)
        if rps is None or p99 is None:
            out.append(f"- {what}: no ratio (upstream ceiling within 2×)")
            return
        verdict = "met" if ok(rps, p99) else "NOT met"
        per_core = cpu_ratio(row, name)
        by_cpu = "" if per_core is None else f"; per core by CPU µs/req {per_core:.2f}×"
        out.append(f"- {what}: {verdict} ({rps:.2f}× throughput, p99 {p99:.2f}×{by_cpu})")

    check(
        "getJob",
        "no-memo",
        "getJob memo off ≥ 1.0×, p99 ≤ 1.2×",
        lambda r, p: r >= 1.0 and p <= 1.2,
    )
    check("getJob", "default", "getJob default (memo on) ≥ 1.25×", lambda r, p: r >= 1.25)
    check("listJobs", "no-memo", "listJobs (20 runs) memo off ≥ 0.8×", lambda r, p: r >= 0.8)
    check("createJob", "default", "createJob ≥ 0.9×", lambda r, p: r >= 0.9)
    steady = result.get("steady_rss")
    if steady and steady["growth_bytes_per_req"] is not None:
        flat = steady["growth_bytes_per_req"] <= RSS_FLAT_BYTES_PER_REQ
        out.append(
            f"- RSS flat over {steady['requests']:,} requests: {'met' if flat else 'NOT met'} "
            f"({steady['rss_before_kib'] / 1024:.1f} → {steady['rss_after_kib'] / 1024:.1f} MiB)"
        )
    return out


def notes(result: dict[str, Any]) -> list[str]:
    meta = result["meta"]
    loops = ", ".join(f"{k}: {v}" for k, v in meta["shimgw_loops"].items())
    out = [
        f"Load: {meta['load_tool']}; upstream: {meta['upstream']}; proxies pinned to their own "
        f"core: {meta['pinned']}; {meta['duration_s']:g} s per run, {meta['rounds']} alternating "
        f"rounds per proxy (means shown); the naive proxy runs on uvloop; shimgw's event loop "
        f"({loops}).",
        f"Load average (1 min) before / after: {meta['load_before'][0]:.2f} / "
        f"{meta['load_after'][0]:.2f}; the `load avg` column is the range over the row's runs "
        f"(the proxy and the load generator account for ~2 of it).",
        "Upstream ceiling: the upstream asked directly for the same /v2 call at the same "
        "concurrency; a ratio is only printed when it is at least 2× the faster proxy.",
    ]
    steady = result.get("steady_rss")
    if steady:
        out.append(
            f"Steady RSS (getJob, c=32): {steady['requests']:,} of "
            f"{steady['target_requests']:,} requests in {steady['duration_s']:.1f} s, RSS "
            f"{steady['rss_before_kib'] / 1024:.1f} → {steady['rss_after_kib'] / 1024:.1f} MiB "
            f"({steady['growth_kib']:+d} KiB), {steady['errors']} errors."
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    parts = ["\n".join(main_table(result))]
    scale = scale_table(result)
    if scale:
        parts.append("Scale-out (CPU per request):\n\n" + "\n".join(scale))
    goal = targets(result)
    if goal:
        parts.append("Targets (c=32):\n\n" + "\n".join(goal))
    parts.append("\n".join(f"- {n}" for n in notes(result)))
    return "\n\n".join(parts) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a benchmark box
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(row["scenario"] for row in result["rows"]))
    names = [BASELINE, *result["meta"]["variants"]]
    fig, axes = plt.subplots(2, len(scenarios), figsize=(4.5 * len(scenarios), 7), squeeze=False)
    for col, scenario in enumerate(scenarios):
        rows = [r for r in result["rows"] if r["scenario"] == scenario]
        conc = [r["concurrency"] for r in rows]
        for metric, ax, label in (
            ("rps", axes[0][col], "requests/s"),
            ("p99_ms", axes[1][col], "p99 latency (ms)"),
        ):
            for name in names:
                ax.plot(conc, [r["proxies"][name][metric] for r in rows], marker="o", label=name)
            if metric == "rps":
                ax.plot(conc, [r["upstream"]["rps"] for r in rows], "k--", label="upstream")
                ax.set_yscale("log")  # the ceiling is far above the proxies
            else:
                ax.set_yscale("log")  # tails at high concurrency would flatten the rest
            ax.set_xscale("log", base=2)
            ax.set_xticks(conc, [str(c) for c in conc])
            ax.set_xlabel("concurrency")
            ax.set_ylabel(label)
            ax.set_title(scenario)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(result: dict[str, Any], directory: Path) -> str:
    """Write the three files; returns the Markdown for the terminal."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (directory / "report.md").write_text("# shimgw vs naive aiohttp proxy\n\n" + table)
    plot(result, directory / "report.png")
    return table
