"""Fixtures for the web page's tests: databases of both kinds for the session store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on loopback, dropped afterwards.

    Its own database, not a schema in `test`: other test runs on this machine share the
    server, and migrations must start from nothing.
    """
    name = f"smtp_profile_web_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc}); start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
