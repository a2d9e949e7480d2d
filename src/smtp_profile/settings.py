"""Settings from command-line flags and SMTP_PROFILE_* environment variables.

The CLI binds each flag to its environment variable (typer's `envvar`), so this module
only holds the resolved values and the defaults that make a bare `smtp-profile serve` work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from smtp_profile.domain.outbound import OutboundPolicy
from smtp_profile.domain.profile import IMPLICIT_TLS_PORTS
from smtp_profile.domain.recipients import RecipientPolicy

DEFAULT_DATA_DIR = Path("smtp-profile-data")
DEFAULT_BASE_PATH = "/KeyfactorAPI"
DATABASE_FILE_NAME = "smtp-profile.db"
INITIAL_ADMIN_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 - a file name
MAX_BODY_BYTES = 64 * 1024
DEFAULT_SESSION_MINUTES = 60
DEFAULT_AUDIT_RETENTION_DAYS = 365
DEFAULT_TESTS_PER_MINUTE = 30
DEFAULT_MAX_CONCURRENT_TESTS = 50
DEFAULT_REQUEST_READ_TIMEOUT = 10.0
DEFAULT_CONNECTIONS_PER_ADDRESS = 100


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start; built once by the CLI or a test."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    base_path: str = DEFAULT_BASE_PATH
    secret_key: str | None = None
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    test_timeout: float = 30.0
    auth_domain: str | None = None
    local_hostname: str | None = None
    implicit_tls_ports: frozenset[int] = IMPLICIT_TLS_PORTS
    session_minutes: int = DEFAULT_SESSION_MINUTES
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS  # 0 keeps records forever
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    recipients: RecipientPolicy = field(default_factory=RecipientPolicy)
    tests_per_minute: int = DEFAULT_TESTS_PER_MINUTE  # per user; 0: no limit
    max_concurrent_tests: int = DEFAULT_MAX_CONCURRENT_TESTS  # on this instance, all users
    # The HTTP server's guard against slow and greedy clients (server/listener.py):
    request_read_timeout: float = DEFAULT_REQUEST_READ_TIMEOUT  # seconds for headers + body
    connections_per_address: int = DEFAULT_CONNECTIONS_PER_ADDRESS  # open at once; 0: no limit

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL: the configured one, or SQLite in the data dir."""
        if self.database_url:
            return async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / DATABASE_FILE_NAME).resolve()}"

    @property
    def normalized_base_path(self) -> str:
        path = "/" + self.base_path.strip("/")
        return "" if path == "/" else path


def async_url(url: str) -> str:
    """Map the URLs operators write to the async drivers the service uses."""
    for prefix, driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix):]
    return url


def sync_url(url: str) -> str:
    """The blocking-driver twin of an async URL, for Alembic migrations."""
    return url.replace("sqlite+aiosqlite://", "sqlite://", 1)


def env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None
