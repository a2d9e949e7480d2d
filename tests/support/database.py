"""Which database the tests use, and a fresh, private one for every test.

Without `SMTP_PROFILE_TEST_DATABASE` every service a test starts uses SQLite in its data
dir. With it (e.g. `postgresql://postgres@127.0.0.1:5432/test`) every test gets its own
PostgreSQL schema, named `smtp_profile_test_<random>`, selected through the connection's
`search_path`; the schema is dropped when the test ends, so runs (and tests) never see
each other's data even when several runs share one server.

The per-test URL is handed to the code under test the way an operator hands it over:
as `SMTP_PROFILE_DATABASE_URL`, which the CLI subprocesses inherit and
`service_settings` reads.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from smtp_profile.settings import Settings, sync_url
from smtp_profile.store.database import migrate

TEST_DATABASE_ENV = "SMTP_PROFILE_TEST_DATABASE"
DATABASE_URL_ENV = "SMTP_PROFILE_DATABASE_URL"
SCHEMA_PREFIX = "smtp_profile_test_"


def requested_postgres() -> str | None:
    """The PostgreSQL server URL the run was asked to use, or None for SQLite."""
    value = os.environ.get(TEST_DATABASE_ENV, "").strip()
    return value or None


def libpq_url(url: str) -> str:
    """The URL as psycopg takes it (no SQLAlchemy driver suffix)."""
    scheme, sep, rest = url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgres") else url


def check_reachable(url: str) -> str | None:
    """None if the server answers, else why not (for a clear message)."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def url_with_schema(url: str, schema: str) -> str:
    """`url` with its search_path set to `schema` (libpq's `options` parameter)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """Create an empty schema, yield a database URL that uses it, drop it afterwards."""
    schema = SCHEMA_PREFIX + secrets.token_hex(6)
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield url_with_schema(url, schema)
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            # A test that left a connection idle in a transaction must not hang the run.
            connection.execute("SET lock_timeout = '20s'")
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                               .format(sql.Identifier(schema)))


@contextmanager
def migrated_postgres_schema(url: str) -> Iterator[str]:
    """`fresh_schema` at the newest revision; the test is skipped, saying why, when
    PostgreSQL is not reachable (for tests that run on both databases in every run)."""
    problem = check_reachable(url)
    if problem is not None:
        pytest.skip(f"PostgreSQL is not reachable: {problem}")
    with fresh_schema(url) as schema_url:
        migrate(schema_url)
        yield schema_url


def current_database_url() -> str | None:
    """The database URL this test's services use; None means SQLite in the data dir."""
    return os.environ.get(DATABASE_URL_ENV) or None


def sqlite_files(data_dir: Path) -> list[Path]:
    """The SQLite database with its WAL and shared-memory files."""
    return sorted(p for p in data_dir.glob("smtp-profile.db*") if p.is_file())


def query(database_url: str, statement: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement, through a plain blocking connection."""
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(statement))]
    finally:
        engine.dispose()


def raw_contents(settings: Settings) -> bytes:
    """Everything the database holds, as bytes, for searching for a leaked secret.

    SQLite: the bytes of the database file and its WAL (where recent writes live).
    PostgreSQL: every row of every table in the test's schema, as PostgreSQL prints it
    (bytea in hex), which is how a dump or a DBA's query would see it.
    """
    if settings.database_url is None:
        return b"".join(p.read_bytes() for p in sqlite_files(settings.data_dir))
    url = settings.resolved_database_url
    tables = [name for (name,) in query(
        url, "SELECT table_name FROM information_schema.tables "
             "WHERE table_schema = current_schema() ORDER BY table_name")]
    assert tables, "no tables found in the test schema"
    rows = []
    for table in tables:
        rows += [row[0] for row in query(url, f'SELECT t::text FROM "{table}" t')]  # noqa: S608
    return "\n".join(rows).encode("utf-8")
