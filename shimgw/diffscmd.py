"""`shimgw diffs --admin URL`: what shadow comparison found, as a table an SRE can read.

Reads `GET /admin/diffs` from the admin listener and prints one row per
operation (results, then the fields that drift most, with their counts);
`--format json` prints the document as the gateway served it (already
redacted). Unreachable admin or a non-JSON answer: one line, exit code 1.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, TextIO

RESULTS = ("match", "differ", "noise-only", "error", "dropped")
_TOP = 3  # drifting fields shown per operation


def fetch(admin: str, timeout: float = 5.0) -> dict[str, Any]:
    if not admin.startswith(("http://", "https://")):
        raise ValueError("--admin must be an http(s) URL")
    url = admin.rstrip("/") + "/admin/diffs"
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def table(doc: dict[str, Any]) -> str:
    header = ["operation", "compared", *RESULTS, "drifting fields (count)", "noise"]
    rows = [header]
    for op, entry in sorted(doc.get("operations", {}).items()):
        counts = entry.get("counts", {})
        pointers = sorted(entry.get("pointers", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        drift = ", ".join(f"{p} ({n})" for p, n in pointers[:_TOP])
        if len(pointers) > _TOP:
            drift += f", +{len(pointers) - _TOP} more"
        rows.append(
            [
                op,
                str(entry.get("compared", 0)),
                *(str(counts.get(r, 0)) for r in RESULTS),
                drift or "-",
                ", ".join(entry.get("noise", [])) or "-",
            ]
        )
    if len(rows) == 1:
        return "no shadow comparisons yet (is a routing.shadow rule configured?)\n"
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if i in (0, len(header) - 2, len(header) - 1) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    samples = doc.get("samples", [])
    if samples:
        last = samples[0]
        lines.append("")
        lines.append(
            f"last differing sample: {last.get('request')} ({last.get('request_id')}) "
            f"{last['primary']['arm']} {last['primary']['status']} vs "
            f"{last['shadow']['arm']} {last['shadow']['status']} at {', '.join(last['pointers'])}"
        )
    return "\n".join(lines) + "\n"


def run_diffs(admin: str, fmt: str, out: TextIO, err: TextIO) -> int:
    try:
        doc = fetch(admin)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"shimgw diffs: cannot read {admin}/admin/diffs: {reason}", file=err)
        return 1
    if fmt == "json":
        out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        out.write(table(doc))
    return 0
