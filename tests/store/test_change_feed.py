"""PostgreSQL's change feed (store/change_feed.py): the triggers notify for every table a
snapshot reads, a GET no change preceded reads nothing, a change made by anyone (another
connection, not this service) is seen by the next GET, and a lost listening connection
makes every GET read the database, logged, until the feed is back."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Table, event
from sqlalchemy.sql import visitors

from smtp_profile.store.change_feed import PostgresChangeFeed
from smtp_profile.store.sessions import FIND
from smtp_profile.store.snapshot import _STATEMENT
from tests.support.database import libpq_url
from tests.support.service import RunningService

API = "/KeyfactorAPI/SMTP"
PROFILE = {"Host": "relay.corp.local", "Port": 587, "RelayAuthenticationType": 0,
           "UseSSL": True, "SenderAccount": "pki@corp.local", "SenderName": "PKI"}


NOTIFYING = ("0015_change_notifications", "0016_session_notifications",
             "0017_client_certificate_notifications")
"""The migrations that add change triggers."""


def notifying_tables() -> tuple[str, ...]:
    return tuple(table for name in NOTIFYING for table in importlib.import_module(
        f"smtp_profile.store.migrations.versions.{name}").TABLES)


def tables_read(statement: Any) -> set[str]:
    read = {element.name for element in visitors.iterate(statement)
            if isinstance(element, Table)}
    assert read  # the walk found the tables
    return read


def test_the_triggers_cover_every_table_a_snapshot_or_a_session_reads() -> None:
    """What the memories guarded by the feed were read from (usecases/memory.py:
    `snapshots`, `sessions`) is exactly what the triggers watch, each table once."""
    tables = notifying_tables()
    assert len(tables) == len(set(tables))
    assert set(tables) == tables_read(_STATEMENT) | tables_read(FIND)


@pytest.fixture
def postgres_service(service: RunningService, database_url: str | None) -> RunningService:
    if not database_url:
        pytest.skip("the change feed is PostgreSQL's; SQLite has PRAGMA data_version")
    return service


class Statements:
    def __init__(self, service: RunningService) -> None:
        self.seen: list[str] = []
        self._engine = service.runtime.engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def during(self, action: Any) -> list[str]:
        self.seen.clear()
        action()
        return list(self.seen)

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._count)


@pytest.fixture
def statements(postgres_service: RunningService) -> Iterator[Statements]:
    counting = Statements(postgres_service)
    yield counting
    counting.close()


def feed_of(service: RunningService) -> PostgresChangeFeed:
    feed = service.runtime.snapshots.changes
    assert feed is not None
    return feed


def settle(condition: Any, what: str) -> None:
    """Wait for something the service does in the background (not a timing claim)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_change_made_outside_the_service_is_what_the_next_get_returns(
        postgres_service: RunningService, statements: Statements) -> None:
    service = postgres_service
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        assert client.get(API).status_code == 200
        assert statements.during(lambda: client.get(API)) == []
        # psql, another release, an admin: a statement the service never saw.
        url = libpq_url(service.settings.resolved_database_url)
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("UPDATE smtp_profile SET sender_name = 'Changed', "
                          "version = version + 1")
        answered = statements.during(lambda: client.get(API))
        assert answered != []  # the notification made it read
        assert client.get(API).json()["SenderName"] == "Changed"
        assert statements.during(lambda: client.get(API)) == []  # and quiet again


def test_a_lost_feed_falls_back_to_the_query_logged_then_comes_back(
        postgres_service: RunningService, statements: Statements,
        caplog: pytest.LogCaptureFixture) -> None:
    service = postgres_service
    feed = feed_of(service)
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        assert client.get(API).status_code == 200
        assert statements.during(lambda: client.get(API)) == []
        outages = feed.outages
        connection = feed._connection
        assert connection is not None
        pid = connection.pgconn.backend_pid
        url = libpq_url(service.settings.resolved_database_url)
        with caplog.at_level(logging.WARNING, logger="smtp_profile.store.change_feed"), \
                psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            settle(lambda: not feed.listening, "the feed never noticed its lost connection")
            # Down: every GET reads the database, and answers as before.
            answers: list[httpx.Response] = []
            for _ in range(3):
                read = statements.during(lambda: answers.append(client.get(API)))
                assert answers[-1].status_code == 200
                assert read != []
            assert feed.outages == outages + 1
            assert "every GET reads the database" in caplog.text
            settle(lambda: feed.listening, "the feed did not come back")
        assert "listening for database changes again" in caplog.text
        assert client.get(API).status_code == 200
        assert statements.during(lambda: client.get(API)) == []


def test_closing_the_feed_leaves_no_connection_behind(
        postgres_service: RunningService) -> None:
    feed = feed_of(postgres_service)
    connection = feed._connection
    assert connection is not None
    pid = connection.pgconn.backend_pid
    url = libpq_url(postgres_service.settings.resolved_database_url)
    postgres_service.stop()
    with psycopg.connect(url, autocommit=True) as admin:
        left = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                             (pid,)).fetchone()
    assert left == (0,)


def test_a_snapshot_read_on_postgresql_is_one_statement_in_no_transaction(
        postgres_service: RunningService) -> None:
    """The read a notification forces is a single SELECT (its own snapshot of the
    tables), so it runs in autocommit: no BEGIN before it, no ROLLBACK after it, two
    round trips fewer for every request after a change."""
    service = postgres_service
    engine = service.runtime.engine.sync_engine
    statuses: list[psycopg.pq.TransactionStatus] = []

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "profile_version" in statement:
            statuses.append(conn.connection.driver_connection.info.transaction_status)

    event.listen(engine, "after_cursor_execute", after)
    try:
        with service.client() as client:
            assert client.put(API, json=PROFILE).status_code == 200
            statuses.clear()
            assert client.get(API).json()["SenderName"] == "PKI"  # its own PUT's notice
            url = libpq_url(service.settings.resolved_database_url)
            with psycopg.connect(url, autocommit=True) as other:
                other.execute("UPDATE smtp_profile SET sender_name = 'Other', "
                              "version = version + 1")
            settle(lambda: client.get(API).json()["SenderName"] == "Other",
                   "the change was never read")
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert statuses  # the reads were seen
    assert set(statuses) == {psycopg.pq.TransactionStatus.IDLE}
