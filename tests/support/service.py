"""The real service in a thread: uvicorn on 127.0.0.1, the same app `serve` runs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from smtp_profile.domain.outbound import OutboundPolicy, parse_ports
from smtp_profile.domain.profile import Profile
from smtp_profile.mailer.resolver import Resolver
from smtp_profile.runtime import Runtime, prepare
from smtp_profile.server.app import create_app
from smtp_profile.server.listener import server_config
from smtp_profile.settings import INITIAL_ADMIN_PASSWORD_FILE, Settings
from tests.support.database import current_database_url

REQUESTED_WITH = {"x-keyfactor-requested-with": "APIClient"}

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a new loop in a worker thread and return its result.

    Works even where the calling thread already has a running loop, as it does while
    Playwright's sync API is active in the browser tests.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class RunningService:
    settings: Settings
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    runtime: Runtime

    @property
    def admin_password(self) -> str:
        return (self.settings.data_dir / INITIAL_ADMIN_PASSWORD_FILE).read_text().strip()

    def client(self, user: str = "admin", password: str | None = None, *,
               version: int | None = None, requested_with: bool = True) -> httpx.Client:
        headers = dict(REQUESTED_WITH) if requested_with else {}
        if version is not None:
            headers["x-keyfactor-api-version"] = str(version)
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=60,
            auth=(user, password if password is not None else self.admin_password),
        )

    def runtime_password(self) -> str | None:
        """The stored relay password, read from the database with the service's key."""
        password = self.stored_profile().password
        return None if password is None else password.reveal()

    def stored_profile(self) -> Profile:
        """The stored profile with its secrets, read from the database with the service's key."""

        async def read() -> Profile:
            runtime = Runtime.open(self.settings)
            try:
                return (await runtime.profiles.load()).profile
            finally:
                await runtime.close()

        return run_async(read())

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_service(settings: Settings, resolver: Resolver | None = None, *,
                  tls_pem: Path | None = None, sock: socket.socket | None = None,
                  clock: Callable[[], float] | None = None) -> RunningService:
    """Serve on 127.0.0.1 (on `sock` if given, bound already); with `tls_pem` (key and
    certificate in one file) over HTTPS; with `clock`, sign-in limits and the audit
    trail go by that time (tests move it instead of waiting)."""
    prepare(settings)
    runtime = (Runtime.open(settings, resolver=resolver) if clock is None
               else Runtime.open(settings, resolver=resolver, clock=clock))
    app = create_app(runtime)
    if sock is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings, log_level="warning",
                                          ssl_certfile=tls_pem, ssl_keyfile=tls_pem))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    scheme = "http" if tls_pem is None else "https"
    return RunningService(settings, f"{scheme}://127.0.0.1:{port}", server, thread, runtime)


class FrozenClock:
    """Wall-clock time that moves only when a test says so: waits never run out by
    themselves, so limits are tested without sleeping or timing."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def plain_settings(data_dir: Path, **overrides: object) -> Settings:
    """Plain Settings (as `serve` would build them) on this test's database."""
    values: dict[str, object] = {"data_dir": data_dir, "database_url": current_database_url()}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


TEST_TOKEN_PORTS = parse_ports("1024-65535")
"""The test token endpoints (tests/support/oauth.py) listen on ephemeral loopback ports."""


def service_settings(data_dir: Path, ca_bundle: Path | None = None,
                     **overrides: object) -> Settings:
    """Settings for a test service: short timeouts, no per-user test rate limit (suites
    run hundreds of tests a minute; tests/api/test_abuse_limits.py sets one), no limit on
    connections per address (every test client is 127.0.0.1;
    tests/api/test_resource_bounds.py sets one), and token endpoints allowed on the
    ephemeral ports the test endpoints use, over https and over plain http
    (tests/api/test_outbound_rebinding.py checks the defaults refuse them)."""
    values: dict[str, object] = {
        "data_dir": data_dir, "database_url": current_database_url(),
        "ca_bundle": ca_bundle, "connect_timeout": 2.0,
        "test_timeout": 6.0, "local_hostname": "client.test", "tests_per_minute": 0,
        "outbound": OutboundPolicy(token_ports=TEST_TOKEN_PORTS,
                                   token_http_ports=TEST_TOKEN_PORTS),
        "connections_per_address": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def add_user(settings: Settings, name: str, password: str, *permissions: str) -> None:
    """Create a user through its own runtime, as `smtp-profile user add` does."""
    from smtp_profile.domain.permissions import parse_permissions
    from smtp_profile.domain.secrets import Secret

    async def run() -> None:
        runtime = Runtime.open(settings)
        try:
            await runtime.accounts.add(name, Secret(password), parse_permissions(permissions))
        finally:
            await runtime.close()

    run_async(run())
