"""Throughput and latency of PUT and GET /SMTP with one or two instances on one database.

Starts real `smtp-profile serve` processes (loopback only) on a fresh database, drives
them with concurrent clients for a fixed number of requests, and prints requests per
second and latency percentiles; then times GET /SMTP/Audit pages over the records the
run wrote. Numbers depend on the machine; compare runs on the same one.

    .venv/bin/python -m bench.instances                      # SQLite, 1 and 2 instances
    .venv/bin/python -m bench.instances --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.processes import COMMAND, HEADERS, PASSWORD, USER, free_port, postgres_database


@contextmanager
def database(postgres: str | None, work: Path) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite:///{work / 'bench.db'}"
        return
    with postgres_database(postgres) as url:
        yield url


@contextmanager
def servers(count: int, env: dict[str, str], work: Path) -> Iterator[list[str]]:
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for index in range(count):
            port = free_port()
            processes.append(subprocess.Popen(
                [COMMAND, "serve", "--port", str(port), "--data-dir", str(work / f"i{index}"),
                 "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env},
            ))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not start")
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def body(tag: int) -> dict[str, object]:
    return {"Host": f"relay-{tag}.test", "Port": 587, "RelayAuthenticationType": 2,
            "RelayUsername": "svc", "RelayPassword": f"pw-{tag}", "UseSSL": True,
            "SenderAccount": "svc@corp.local", "SenderName": f"Bench {tag}"}


def drive(urls: list[str], clients: int, requests: int) -> dict[str, list[float]]:
    """`clients` threads, each sending `requests` requests (1 PUT : 3 GETs) round-robin."""
    timings: dict[str, list[float]] = {"PUT": [], "GET": []}
    lock = threading.Lock()

    def client(number: int) -> None:
        sessions = [httpx.Client(base_url=u, auth=(USER, PASSWORD), headers=HEADERS,
                                 timeout=60) for u in urls]
        try:
            for i in range(requests):
                session = sessions[(number + i) % len(sessions)]
                method = "PUT" if i % 4 == 0 else "GET"
                start = time.perf_counter()
                if method == "PUT":
                    response = session.put("/KeyfactorAPI/SMTP", json=body(number * 1000 + i))
                else:
                    response = session.get("/KeyfactorAPI/SMTP")
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                with lock:
                    timings[method].append(elapsed)
        finally:
            for session in sessions:
                session.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(label: str, timings: dict[str, list[float]], wall: float) -> None:
    total = sum(len(v) for v in timings.values())
    print(f"{label}: {total} requests in {wall:.1f}s = {total / wall:.0f} req/s")
    for method, values in timings.items():
        print(f"  {method}: n={len(values)} p50={statistics.median(values) * 1000:.1f}ms "
              f"p95={percentile(values, 0.95) * 1000:.1f}ms "
              f"max={max(values) * 1000:.1f}ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100, help="per client")
    args = parser.parse_args()
    key = subprocess.run([COMMAND, "new-key"], capture_output=True, text=True,
                         check=True).stdout.strip()
    for count in (1, 2):
        with tempfile.TemporaryDirectory() as tmp, database(args.postgres, Path(tmp)) as url:
            work = Path(tmp)
            env = {"SMTP_PROFILE_DATABASE_URL": url, "SMTP_PROFILE_SECRET_KEY": key}
            with servers(count, env, work) as urls:
                subprocess.run(
                    [COMMAND, "user", "add", USER, "-p", "/system_settings/read/", "-p",
                     "/system_settings/modify/", "--password-stdin", "--data-dir",
                     str(work / "admin")],
                    input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                    env={**os.environ, **env},
                )
                drive(urls, 2, 5)  # warm up: argon2 check cached, pools open
                start = time.perf_counter()
                timings = drive(urls, args.clients, args.requests)
                wall = time.perf_counter() - start
                kind = "PostgreSQL" if args.postgres else "SQLite"
                report(f"{kind}, {count} instance(s), {args.clients} clients", timings, wall)
                with httpx.Client(base_url=urls[0], auth=(USER, PASSWORD), headers=HEADERS,
                                  timeout=60) as session:
                    pages = []
                    for page in (1, 5):
                        start = time.perf_counter()
                        session.get("/KeyfactorAPI/SMTP/Audit", params={
                            "pageReturned": page, "returnLimit": 50}).raise_for_status()
                        pages.append(time.perf_counter() - start)
                    total = session.get("/KeyfactorAPI/SMTP/Audit").headers["x-total-count"]
                print(f"  GET /SMTP/Audit over {total} records: page 1 "
                      f"{pages[0] * 1000:.1f}ms, page 5 {pages[1] * 1000:.1f}ms")


if __name__ == "__main__":
    main()
