"""Child processes of the benchmark, and what /proc says about them.

CPU time and memory are read from /proc rather than psutil: it is two small
files, Linux is the only platform the numbers are meaningful on anyway, and
the benchmark needs no extra dependency.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    # Bound and released: a small race with other programs, acceptable on a benchmark box.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def reset_peak_rss(pid: int) -> bool:
    """Make VmHWM start again from the current RSS (Linux ≥ 4.0), so a peak is per run."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def descendants(pid: int) -> list[int]:
    """The process and all its children, so `--workers N` is measured as a whole."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue  # the thread or child went away while being read
    return found


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in descendants(pid):
        try:
            total += cpu_seconds(p)
        except OSError:
            continue
    return total


def tree_memory_kib(pid: int) -> dict[str, int]:
    total = {"VmRSS": 0, "VmHWM": 0}
    for p in descendants(pid):
        try:
            mem = memory_kib(p)
        except OSError:
            continue
        for key in total:
            total[key] += mem.get(key, 0)
    return total


def pin_prefix(core: int) -> list[str]:
    """`taskset -c CORE` when both taskset and that core exist, else nothing."""
    if shutil.which("taskset") and core in os.sched_getaffinity(0) and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core)]
    return []


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start(
    name: str,
    argv: Sequence[str],
    port: int,
    log_dir: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    # taskset execs its command, so the pid is the server's own, as the /proc readers need.
    with log.open("wb") as stream:
        proc = subprocess.Popen(
            list(argv),
            stdout=stream,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
        )
    return Child(name, proc, log, port)


def wait_ready(child: Child, path: str, headers: Mapping[str, str], timeout: float = 30.0) -> None:
    """Wait for a TCP accept, then for `GET path` to answer 200; raise with the log if not."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", child.port), timeout=1):
                pass
            req = urllib.request.Request(child.url + path, headers=dict(headers))
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(
        f"{child.name} not ready after {timeout:.0f} s ({last}):\n{child.log_tail()}"
    )
