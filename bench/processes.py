"""The processes a benchmark run starts (service, floor, SMTP sink, silent server) and
what it reads off them: readiness and resident memory. Loopback only."""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql

COMMAND = str(Path(sys.executable).with_name("smtp-profile"))
API = "/KeyfactorAPI/SMTP"
HEADERS = {"x-keyfactor-requested-with": "APIClient"}
USER, PASSWORD = "bench", "bench-password-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    schema = "smtp_profile_bench_" + secrets.token_hex(4)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def postgres_problem(url: str) -> str | None:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def rss_mb(pid: int) -> float:
    """Resident set size now, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class RssPeak:
    """Samples a process's RSS every 20 ms while the block runs; `peak` is the highest."""

    pid: int
    peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(0.02)

    @contextmanager
    def watching(self) -> Iterator[RssPeak]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak = max(self.peak, rss_mb(self.pid))


def wait_until(check_url: str, timeout: float = 60.0, auth: tuple[str, str] | None = None,
               process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `check_url` every 2 ms until it answers 200.

    With the standard library's client, not httpx: `httpx.get` builds a client and its
    TLS context (the certifi store) on every call, about 18 ms here, which the
    cold-start figures would count as the service's start (the poll's period and its
    last request)."""
    target = urlsplit(check_url)
    headers = dict(HEADERS)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1",
                                                target.port, timeout=2)
        try:
            connection.request("GET", target.path or "/", headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{check_url} did not answer 200 within {timeout} s")
        time.sleep(0.002)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(USER, PASSWORD), headers=HEADERS,
                            timeout=120)


def add_bench_user(data_dir: Path, env: dict[str, str]) -> None:
    """The bench's user, unless another instance on the same database added it."""
    done = subprocess.run(
        [COMMAND, "user", "add", USER, "--data-dir", str(data_dir), "--password-stdin",
         "--permission", "/system_settings/read/", "--permission", "/system_settings/modify/"],
        input=PASSWORD.encode(), env=service_environment(env), capture_output=True,
        check=False,
    )
    if done.returncode != 0 and b"already exists" not in done.stderr + done.stdout:
        raise RuntimeError(f"user add failed: {(done.stderr + done.stdout).decode()[-500:]}")


def service_environment(env: dict[str, str]) -> dict[str, str]:
    """The bench's environment for a service process, less PYTHONDONTWRITEBYTECODE: an
    installed service has its bytecode cached (pip compiles it on install, and an
    editable install writes it at its first start), so a restart does not recompile
    every module; a shell that says not to write bytecode would make every start
    compile the whole package and measure that instead."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**inherited, **env}


def spawn_service(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [COMMAND, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=service_environment(env),
    )


@contextmanager
def service(data_dir: Path, env: dict[str, str]) -> Iterator[Service]:
    """`smtp-profile serve` on a data dir holding the bench user, ready to answer."""
    add_bench_user(data_dir, env)
    port = free_port()
    process = spawn_service(data_dir, port, env)
    try:
        wait_until(f"http://127.0.0.1:{port}{API}", auth=(USER, PASSWORD), process=process)
        yield Service(process, port)
    finally:
        stop(process)


@contextmanager
def module_process(module: str, *args: str, ready_url: str | None = None,
                   ready_line: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bench.<module> args...`, ready when `ready_url` answers 200 or when it
    prints its first line."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"bench.{module}", *args],
        stdout=subprocess.PIPE if ready_line else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent,
    )
    try:
        if ready_line and process.stdout is not None:
            process.stdout.readline()
        if ready_url is not None:
            wait_until(ready_url, process=process)
        yield process
    finally:
        stop(process)


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (a wrong service, or
    a firewall that swallows the greeting): its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        done.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
