"""Shared fixtures: certificates, SMTP servers and the running service, all on loopback."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from argon2 import PasswordHasher

from smtp_profile.usecases import accounts as accounts_module
from tests.support.database import (
    DATABASE_URL_ENV,
    TEST_DATABASE_ENV,
    check_reachable,
    fresh_schema,
    requested_postgres,
)
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import Behaviour, LoopThread, ScriptedServer, SmtpServer

RELAY_NAMES = ["mail.test", "localhost", "127.0.0.1"]

DATABASE_FREE = frozenset({
    # The domain is pure, the mailer, the OAuth client and the PAM provider types have no
    # store (tests/test_layers.py holds them to that), and these files start no service:
    # a PostgreSQL run would repeat them exactly, so it leaves them to the SQLite run.
    "tests/domain/test_addresses.py", "tests/domain/test_audit.py",
    "tests/domain/test_bearer_rules.py", "tests/domain/test_capacity.py",
    "tests/domain/test_client_certificate_rules.py", "tests/domain/test_host_patterns.py",
    "tests/domain/test_message_inputs.py", "tests/domain/test_moments.py",
    "tests/domain/test_oauth_credential.py", "tests/domain/test_oauth_rules.py",
    "tests/domain/test_outbound_policy.py", "tests/domain/test_pam_references.py",
    "tests/domain/test_profile_rules.py", "tests/domain/test_provider_rules.py",
    "tests/domain/test_redaction.py", "tests/domain/test_report_faults.py",
    "tests/domain/test_secret_trust.py", "tests/domain/test_service_account.py",
    "tests/domain/test_throttle.py",
    "tests/mailer/test_client_tls.py", "tests/mailer/test_failures.py",
    "tests/mailer/test_microsoft_365.py", "tests/mailer/test_provider_catalogue.py",
    "tests/mailer/test_xoauth2.py",
    "tests/oauth/test_client_assertion.py", "tests/oauth/test_token_client.py",
    "tests/pam/test_aws_secrets.py", "tests/pam/test_command.py", "tests/pam/test_vault.py",
    "tests/test_crypto.py", "tests/test_docs.py", "tests/test_layers.py",
    "tests/test_scripts.py",
})
"""Test files that never open a database (nor start a service or a command that does)."""


def pytest_report_header(config: pytest.Config) -> str:
    url = requested_postgres()
    if url is None:
        return (f"database: SQLite in each test's data dir (set {TEST_DATABASE_ENV}="
                "postgresql://... to run the suite against PostgreSQL)")
    return f"database: PostgreSQL at {url}, a fresh schema for every test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, leave out the files that never touch a database (DATABASE_FREE):
    the SQLite run has run them already, and each would only cost a schema."""
    if requested_postgres() is None:
        return
    root = config.rootpath
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        relative = item.path.relative_to(root).as_posix()
        (dropped if relative in DATABASE_FREE else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionstart(session: pytest.Session) -> None:
    """Asked for PostgreSQL but it is not there: stop at once, saying so."""
    url = requested_postgres()
    if url is not None:
        problem = check_reachable(url)
        if problem is not None:
            pytest.exit(f"{TEST_DATABASE_ENV}={url} but PostgreSQL is not reachable: "
                        f"{problem}", returncode=3)


# argon2 at its lowest cost inside the test process: every service a test starts hashes
# its admin's password and every client's first sign-in verifies one, about 0.1 s each at
# the library's defaults (tens of seconds per run). Hashes made elsewhere (a CLI
# subprocess) still verify, argon2 reads the cost from the hash; what the service itself
# uses is proven by tests/test_password_hashing.py, in a process of its own.


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts_module, "PasswordHasher",
                      functools.partial(PasswordHasher, time_cost=1, memory_cost=8,
                                        parallelism=1))
        yield


@pytest.fixture(autouse=True)
def database_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """The database every service and command of this test uses (None: SQLite).

    Set as SMTP_PROFILE_DATABASE_URL, as an operator would, so subprocesses get it too.
    """
    url = requested_postgres()
    if url is None:
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield None
        return
    with fresh_schema(url) as schema_url:
        monkeypatch.setenv(DATABASE_URL_ENV, schema_url)
        yield schema_url


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*RELAY_NAMES).configure_cert(context)
    return context


@pytest.fixture
def resolver() -> StaticResolver:
    return StaticResolver({"mail.test": ["127.0.0.1"], "localhost": ["127.0.0.1"]})


@pytest.fixture
def service(tmp_path: Path, ca_bundle: Path, resolver: StaticResolver) -> Iterator[RunningService]:
    running = start_service(service_settings(tmp_path / "data", ca_bundle), resolver)
    yield running
    running.stop()


@pytest.fixture
def smtp_server(loop_thread: LoopThread,
                server_context: ssl.SSLContext) -> Iterator[Callable[..., SmtpServer]]:
    servers: list[SmtpServer] = []

    def make(mode: str = "plain", behaviour: Behaviour | None = None,
             **kwargs: Any) -> SmtpServer:
        server = SmtpServer(loop_thread, mode=mode, server_context=server_context,
                            behaviour=behaviour, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def scripted_server(loop_thread: LoopThread) -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(handle: Any, ssl_context: ssl.SSLContext | None = None) -> ScriptedServer:
        server = ScriptedServer(loop_thread, handle, ssl_context)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def token_endpoint(server_context: ssl.SSLContext) -> Iterator[Callable[..., TokenEndpoint]]:
    """Real OAuth token endpoints on 127.0.0.1: `make(issuer)` for HTTP, `tls=True` for HTTPS."""
    endpoints: list[TokenEndpoint] = []

    def make(issuer: Issuer, *, tls: bool = False) -> TokenEndpoint:
        endpoint = TokenEndpoint(issuer, server_context if tls else None)
        endpoints.append(endpoint)
        return endpoint

    yield make
    for endpoint in endpoints:
        endpoint.close()
