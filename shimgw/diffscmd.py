"""`shimgw diffs --admin URL`: what shadow comparison found, as a table an SRE can read.

Reads `GET /admin/diffs` from the admin listener and prints one row per
operation (results, then the fields that drift most, with their counts);
`--format json` prints the document as the gateway served it (already
redacted). Whatever else the URL does (unreachable, an error status, HTML, JSON of
another shape, an answer past `MAX_BYTES`, none within `DEADLINE_S`) is one line on
stderr (the URL without its credentials) and exit code 1.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

RESULTS = ("match", "differ", "noise-only", "error", "dropped")
_TOP = 3  # drifting fields shown per operation
# The whole fetch, connect to last byte: urllib's own timeout is per read, so an answer
# dripping one byte at a time would otherwise hold the command forever.
DEADLINE_S = 10.0
# A diffs document holds at most `shadowing.samples` pairs of bodies (each at most
# `shadowing.max_body_bytes`, 1 MiB by default); far past that is not the admin listener.
MAX_BYTES = 256 << 20
_CHUNK = 1 << 16


class FetchError(Exception):
    """Why the admin URL gave no diffs document, in one line."""


def _redacted(admin: str) -> str:
    """The URL as the operator may see it in a terminal or a CI log: no `user:pass@`."""
    try:
        parts = urllib.parse.urlsplit(admin)
    except ValueError:
        return admin.rpartition("@")[2] if "@" in admin else admin
    if "@" not in parts.netloc:
        return admin
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _read(admin: str, deadline: float) -> bytes:
    url = admin.rstrip("/") + "/admin/diffs"
    try:
        with urllib.request.urlopen(url, timeout=DEADLINE_S) as resp:
            kind = resp.headers.get_content_type()
            chunks, size = [], 0
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise FetchError(f"answer larger than {MAX_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"no whole answer within {DEADLINE_S:g}s")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise FetchError(str(exc.reason)) from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from exc
    if kind != "application/json":
        raise FetchError(f"answered {kind}, not JSON")
    return b"".join(chunks)


def _within_deadline(admin: str) -> bytes:
    """`_read` in a daemon thread, given up at the deadline (a head that never ends too)."""
    deadline = time.monotonic() + DEADLINE_S
    result: list[bytes | FetchError] = []

    def target() -> None:
        try:
            result.append(_read(admin, deadline))
        except FetchError as exc:
            result.append(exc)

    thread = threading.Thread(target=target, name="shimgw-diffs-fetch", daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    if not result:
        raise FetchError(f"no whole answer within {DEADLINE_S:g}s")
    if isinstance(result[0], FetchError):
        raise result[0]
    return result[0]


def fetch(admin: str) -> dict[str, Any]:
    if not admin.startswith(("http://", "https://")):
        raise FetchError("--admin must be an http(s) URL")
    raw = _within_deadline(admin)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FetchError(f"not JSON ({type(exc).__name__})") from exc
    if not isinstance(doc, dict):
        raise FetchError(f"not a diffs document (a JSON {type(doc).__name__})")
    try:
        table(doc)  # the shape the table reads, for --format json too
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise FetchError(f"not a diffs document ({type(exc).__name__}: {exc})") from exc
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
    except FetchError as exc:
        print(f"shimgw diffs: cannot read {_redacted(admin)}/admin/diffs: {exc}", file=err)
        return 1
    if fmt == "json":
        out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        out.write(table(doc))
    return 0
