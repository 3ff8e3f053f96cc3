"""report.json (every number), report.md (the table) and report.png (the curves)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

PROXIES = ("baseline", "shimgw")


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None or math.isnan(value) else format(value, fmt)


def _pct(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction * 100:.0f}"


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "| scenario | c | baseline rps | shimgw rps | rps ratio | baseline p50 / p99 ms "
        "| shimgw p50 / p99 ms | p99 ratio | CPU µs/req base / shim | core busy % base / shim "
        "| peak RSS MiB base / shim | errors base / shim |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result["rows"]:
        b, s = row["baseline"], row["shimgw"]
        lines.append(
            f"| {row['scenario']} | {row['concurrency']} | {_num(b['rps'], '.0f')} "
            f"| {_num(s['rps'], '.0f')} | {_num(_ratio(s['rps'], b['rps']), '.2f')} "
            f"| {_num(b['p50_ms'], '.2f')} / {_num(b['p99_ms'], '.2f')} "
            f"| {_num(s['p50_ms'], '.2f')} / {_num(s['p99_ms'], '.2f')} "
            f"| {_num(_ratio(s['p99_ms'], b['p99_ms']), '.2f')} "
            f"| {_num(b['cpu_us_per_req'], '.0f')} / {_num(s['cpu_us_per_req'], '.0f')} "
            f"| {_pct(b['proxy_core_busy'])} / {_pct(s['proxy_core_busy'])} "
            f"| {b['peak_rss_kib'] / 1024:.1f} / {s['peak_rss_kib'] / 1024:.1f} "
            f"| {b['errors']} / {s['errors']} |"
        )
    notes = [
        f"Load: {meta['load_tool']}; proxy pinned to its own core: {meta['pinned']}; "
        f"{meta['duration_s']:g} s per run, {meta['rounds']} alternating rounds per proxy "
        f"(means shown); ratios are shimgw ÷ baseline. Core busy: the proxy's CPU time ÷ wall "
        "time; near 100 % the proxy itself is the bottleneck. Every run opens fresh "
        "connections, so its first moments include accepting all c of them.",
    ]
    steady = result.get("steady_rss")
    if steady:
        notes.append(
            f"Steady RSS (shimgw, getJob, c=32): {steady['requests']} of "
            f"{steady['target_requests']} requests in {steady['duration_s']:.1f} s "
            f"(bound: {steady['max_s']:g} s), RSS {steady['rss_before_kib'] / 1024:.1f} → "
            f"{steady['rss_after_kib'] / 1024:.1f} MiB "
            f"({steady['growth_kib']:+d} KiB), {steady['errors']} errors."
        )
    workers = result.get("workers")
    if workers is not None and not workers["available"]:
        notes.append(f"shimgw --workers 2: not available ({workers['message']}).")
    elif workers is not None:
        cells = ", ".join(
            f"c={r['concurrency']}: {r['rps']:.0f} rps, p99 {r['p99_ms']:.2f} ms"
            for r in workers["runs"]
        )
        notes.append(f"shimgw --workers 2 (getJob, unpinned): {cells}.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a benchmark box
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(row["scenario"] for row in result["rows"]))
    fig, axes = plt.subplots(2, len(scenarios), figsize=(4.5 * len(scenarios), 7), squeeze=False)
    for col, scenario in enumerate(scenarios):
        rows = [r for r in result["rows"] if r["scenario"] == scenario]
        conc = [r["concurrency"] for r in rows]
        for metric, ax, label in (
            ("rps", axes[0][col], "requests/s"),
            ("p99_ms", axes[1][col], "p99 latency (ms)"),
        ):
            for proxy in PROXIES:
                ax.plot(conc, [r[proxy][metric] for r in rows], marker="o", label=proxy)
            ax.set_xscale("log", base=2)
            if metric == "p99_ms":
                ax.set_yscale("log")  # tails at high concurrency would flatten the rest
            ax.set_xticks(conc, [str(c) for c in conc])
            ax.set_xlabel("concurrency")
            ax.set_ylabel(label)
            ax.set_title(scenario)
            ax.grid(True, alpha=0.3)
            ax.legend()
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
