"""Real `smtp-profile serve` processes for the several-instances and crash tests.

Each instance is a subprocess on its own loopback port and data dir; they share the
database (SMTP_PROFILE_DATABASE_URL) and the key (SMTP_PROFILE_SECRET_KEY), which is
how operators run several instances behind a load balancer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

COMMAND = str(Path(sys.executable).with_name("smtp-profile"))
REQUESTED_WITH = {"x-keyfactor-requested-with": "APIClient"}
START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Instance:
    name: str
    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.name}-{int(time.time() * 1000)}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [COMMAND, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.process is not None
            assert self.process.poll() is None, f"{self.name} exited:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.name} did not come up:\n{self.output()}"
            time.sleep(0.1)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight requests die mid-way."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, user: str, password: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(user, password), headers=REQUESTED_WITH,
                            timeout=60)


@contextmanager
def instances(*started: Instance) -> Iterator[tuple[Instance, ...]]:
    """Start every instance at once (they race for the migration), wait, always clean up."""
    try:
        for instance in started:
            instance.start()
        for instance in started:
            instance.wait_until_up()
        yield started
    finally:
        for instance in started:
            instance.kill()
