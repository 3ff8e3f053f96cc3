"""nginx serving the fake upstream's canned /v2 answers, when nginx is installed.

The Python upstream (benchmarks/upstream.py) spends ~100 µs of CPU per answer:
close enough to a proxy's cost that it can become the bottleneck. nginx returns
the same bytes for a few µs, so the proxies are measured and not the upstream;
it is also the physical reference for the scale-out figure (CPU µs per request
of the leanest HTTP server on the same machine).

The bodies are the Python upstream's own (`run_doc`, `LIST_BYTES`): the run id
in the path is echoed through a regex capture, so getJob answers carry the id
asked for, exactly as benchmarks/upstream.py does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks.upstream import HEALTH_BYTES, LIST_BYTES, run_bytes

_SENTINEL = 987_654_321  # a run number no body contains by chance; becomes nginx's $1
CREATED_RUN = 1_000_000


def available() -> bool:
    return shutil.which("nginx") is not None


def quoted(body: bytes) -> str:
    """An nginx single-quoted string holding body (nginx unescapes \\\\ and \\');
    nginx reads at most 4 KiB per token, so longer bodies are served from files."""
    text = body.decode()
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def config(prefix: Path, port: int) -> str:
    """A one-worker nginx that answers the three /v2 calls the scenarios make, and health."""
    one_run = quoted(run_bytes(_SENTINEL)).replace(str(_SENTINEL), "$1")
    created = quoted(run_bytes(CREATED_RUN, "PENDING"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server_tokens off;
    default_type application/json;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location ~ "^/v2/runs/run-([0-9]{{1,18}})$" {{
            return 200 {one_run};
        }}
        location = /v2/runs {{
            if ($request_method = POST) {{
                add_header Location /v2/runs/run-{CREATED_RUN} always;
                return 202 {created};
            }}
            # A page is over nginx's 4 KiB token limit: a file, its descriptor cached.
            alias {prefix}/list.json;
        }}
        location = /v2/health {{
            return 200 {quoted(HEALTH_BYTES)};
        }}
    }}
}}
"""


def argv(prefix: Path, port: int) -> list[str]:
    """Write the config under prefix; the command line that runs nginx in the foreground."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "list.json").write_bytes(LIST_BYTES)
    conf = prefix / "nginx.conf"
    conf.write_text(config(prefix, port))
    return ["nginx", "-p", str(prefix), "-c", str(conf)]
