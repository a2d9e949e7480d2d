"""Soak test, on demand: hours' worth of mixed traffic in minutes, watching for leaks.

    python -m bench.soak [--minutes 3] [--concurrency 8] [--rss-growth-mb 25] [--fd-growth 16]

Starts `smtp-profile serve` (SQLite in a temporary data dir, or SMTP_PROFILE_DATABASE_URL)
and an SMTP sink in their own processes on 127.0.0.1, then runs GET, PUT, Test and
Diagnose (good and failing) as fast as the clients can, sampling the server's resident
memory and open file descriptors. After a warm-up of a fifth of the run, growth beyond the
stated bounds fails the run (exit 1). Not part of CI: it takes minutes by design.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.processes import HEADERS, free_port, rss_mb


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def start_sink(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = str(Path(sys.executable).with_name("smtp-profile"))
    env = {**os.environ, "SMTP_PROFILE_TESTS_PER_MINUTE": "0",
           "SMTP_PROFILE_LOG_LEVEL": "warning", "SMTP_PROFILE_CONNECT_TIMEOUT": "2",
           "SMTP_PROFILE_TEST_TIMEOUT": "5"}
    return subprocess.Popen([command, "serve", "--port", str(port), "--data-dir", str(data_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


async def client_loop(url: str, password: str, sink_port: int, closed_port: int,
                      stop_at: float, counts: dict[str, int]) -> None:
    profile = {"Host": "127.0.0.1", "Port": sink_port, "SenderAccount": "soak@corp.local",
               "SenderName": "Soak"}
    async with httpx.AsyncClient(base_url=url, auth=("admin", password), headers=HEADERS,
                                 timeout=30) as client:
        while time.monotonic() < stop_at:
            roll = random.random()
            if roll < 0.70:
                response = await client.get("/KeyfactorAPI/SMTP")
                kind = "GET"
            elif roll < 0.85:
                response = await client.put("/KeyfactorAPI/SMTP", json={
                    **profile, "SenderName": f"Soak {random.randint(0, 10**6)}"})
                kind = "PUT"
            elif roll < 0.93:
                response = await client.post("/KeyfactorAPI/SMTP/Test", json={
                    **profile, "TestRecipient": "pki@corp.local"})
                kind = "Test"
            elif roll < 0.97:
                response = await client.post("/KeyfactorAPI/SMTP/Diagnose", json={
                    **profile, "Port": closed_port, "TestRecipient": "pki@corp.local"})
                kind = "Diagnose(fail)"
            else:
                response = await client.put("/KeyfactorAPI/SMTP", json={"Port": "bad"})
                kind = "PUT(bad)"
            counts[kind] = counts.get(kind, 0) + 1
            if response.status_code >= 500:
                counts["5xx"] = counts.get("5xx", 0) + 1


async def soak(url: str, password: str, sink_port: int, minutes: float, concurrency: int,
               pid: int) -> tuple[dict[str, int], list[tuple[float, float, int]]]:
    stop_at = time.monotonic() + minutes * 60
    counts: dict[str, int] = {}
    samples: list[tuple[float, float, int]] = []
    closed = free_port()

    async def sample() -> None:
        started = time.monotonic()
        while time.monotonic() < stop_at:
            samples.append((time.monotonic() - started, rss_mb(pid), open_fds(pid)))
            await asyncio.sleep(2)

    await asyncio.gather(sample(), *(client_loop(url, password, sink_port, closed, stop_at,
                                                 counts) for _ in range(concurrency)))
    return counts, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rss-growth-mb", type=float, default=25.0)
    parser.add_argument("--fd-growth", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sink_port, api_port = free_port(), free_port()
        sink = start_sink(sink_port)
        server = start_server(Path(tmp) / "data", api_port)
        url = f"http://127.0.0.1:{api_port}"
        try:
            wait_until_up(url, server)
            password = (Path(tmp) / "data" / "initial-admin-password").read_text().strip()
            counts, samples = asyncio.run(soak(url, password, sink_port, args.minutes,
                                               args.concurrency, server.pid))
        finally:
            server.terminate()
            sink.terminate()
            server.wait(timeout=30)
            sink.wait(timeout=30)
    warm = [s for s in samples if s[0] >= args.minutes * 60 / 5] or samples
    rss = [s[1] for s in warm]
    fds = [s[2] for s in warm]
    total = sum(v for k, v in counts.items() if k != "5xx")
    print(f"requests: {total} in {args.minutes:g} min "
          f"({total / (args.minutes * 60):.0f}/s) with {args.concurrency} clients")
    for kind, count in sorted(counts.items()):
        print(f"  {kind:<16} {count}")
    print(f"RSS after warm-up: start {rss[0]:.1f} MB, median {statistics.median(rss):.1f}, "
          f"max {max(rss):.1f}, end {rss[-1]:.1f} (growth {rss[-1] - rss[0]:+.1f} MB, "
          f"bound {args.rss_growth_mb:g})")
    print(f"open fds after warm-up: start {fds[0]}, max {max(fds)}, end {fds[-1]} "
          f"(growth {fds[-1] - fds[0]:+d}, bound {args.fd_growth})")
    failed = (counts.get("5xx", 0) > 0 or rss[-1] - rss[0] > args.rss_growth_mb
              or fds[-1] - fds[0] > args.fd_growth)
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
