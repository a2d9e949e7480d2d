"""GET load from wrk, a C load generator much faster than the server it measures.

`bench/loadgen.py` is Python: at concurrency 16 it saturates near the rate the service
reaches, which hides part of the gap between the service and its floor. wrk does not.
It is Debian's `wrk` package: found on PATH, else installed with apt-get when this runs
as root, else the bench says so and falls back to loadgen (and marks the figures).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_COUNT = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors: (.*)")


@dataclass
class WrkResult:
    """What one wrk run reports: requests per second and its latency percentiles (ms)."""

    throughput: float
    percentiles_ms: dict[float, float]
    server_cpu_us: float | None = None
    """The server's own CPU time (user and system, from /proc) per answered request
    during the counted run: steadier than throughput, which moves with whatever else
    shares the cores (wrk among it). None when no server pid was given."""

    def percentile(self, fraction: float) -> float:
        return self.percentiles_ms[fraction]


def find_wrk() -> tuple[str | None, str]:
    """wrk's path (or None) and a sentence saying where it came from, for the table."""
    found = shutil.which("wrk")
    if found:
        return found, f"wrk from {found}"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("-- wrk is not installed: installing Debian's wrk package (apt-get)",
              file=sys.stderr, flush=True)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
            done = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"],
                                  capture_output=True, text=True, check=False)
        found = shutil.which("wrk")
        if found:
            return found, "wrk installed now with apt-get"
        return None, f"wrk could not be installed ({done.stderr.strip()[-200:]})"
    return None, "wrk is not installed and this is not root with apt-get"


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user and system (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, url: str, headers: dict[str, str], concurrency: int,
            duration: float, warmup: float = 1.0, server_pid: int | None = None) -> WrkResult:
    """One run at `concurrency` connections for `duration` seconds (after a warm-up run
    that is not counted); every answer must be 2xx. With `server_pid`, also the server's
    CPU time per request during the counted run."""
    threads = min(2, concurrency)
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]

    def once(seconds: float) -> str:
        done = subprocess.run(
            [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
             "--latency", *header_args, url],
            capture_output=True, text=True, check=True)
        return done.stdout

    if warmup > 0:
        once(warmup)
    cpu_before = None if server_pid is None else cpu_seconds(server_pid)
    output = once(duration)
    cpu_used = None if server_pid is None else cpu_seconds(server_pid) - (cpu_before or 0)
    bad = _NON_2XX.search(output)
    if bad:
        raise RuntimeError(f"wrk got {bad.group(1)} non-2xx answers from {url}:\n{output}")
    errors = _ERRORS.search(output)
    if errors:
        raise RuntimeError(f"wrk saw socket errors on {url}: {errors.group(1)}")
    rate = _RATE.search(output)
    percentiles = {int(p) / 100: float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(output)}
    count = _COUNT.search(output)
    if rate is None or count is None or 0.5 not in percentiles or 0.99 not in percentiles:
        raise RuntimeError(f"wrk's output was not understood:\n{output}")
    per_request = (None if cpu_used is None or not int(count.group(1))
                   else cpu_used / int(count.group(1)) * 1e6)
    return WrkResult(float(rate.group(1)), percentiles, per_request)
