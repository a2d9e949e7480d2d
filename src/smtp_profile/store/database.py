"""Engines and migrations: one async engine for the service, Alembic for the schema.

Several instances may start at once on one database, so `migrate` runs every upgrade
under a lock that the database itself holds: a transaction-scoped advisory lock on
PostgreSQL (keyed by the schema, so instances on different schemas do not wait for each
other), an exclusive transaction on SQLite. The first instance upgrades; the others wait,
then find the schema at the newest revision and do nothing.

A restart finds the schema at the newest revision: one SELECT says so, and Alembic (a
large import, most of a restart's time) is only loaded when there is work for it.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from smtp_profile.settings import sync_url
from smtp_profile.store.errors import translate_errors

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_NAME = "smtp-profile schema migration"
# Seconds SQLite waits for a locked database: the service's writers, and a migrator
# waiting for another instance's migration to finish.
SQLITE_BUSY_SECONDS = 10
SQLITE_MIGRATION_BUSY_SECONDS = 120
SQLITE_LOCKED_ATTEMPTS = 5
"""Migration attempts on SQLite when it answers "database is locked" without waiting."""
PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection idle longer than this is pinged before use (see
`ping_idle_connections`)."""
# When a commit waits for the disk (see tune_sqlite); the default of --sqlite-synchronous.
SQLITE_SYNCHRONOUS = "full"


def tune_sqlite(engine: Engine, *, busy_seconds: float = SQLITE_BUSY_SECONDS,
                synchronous: str = SQLITE_SYNCHRONOUS) -> None:
    """WAL lets readers go on while a PUT writes; the busy timeout queues writers.

    The busy timeout is set first, so that two processes creating the database at the
    same moment wait for each other while switching it to WAL instead of failing.

    `synchronous` (the operator's `--sqlite-synchronous`): in WAL mode, NORMAL syncs the
    log to disk at checkpoints, not at every commit. A commit is then safe from a crash
    of the process (it is in the log file, in the operating system's hands) but not from
    a power cut or a crash of the operating system, which may undo the last commits:
    each whole (a PUT with its audit record), never part of one, and never corrupting
    the file. FULL syncs at every commit, about a millisecond on the machines measured.
    """
    if synchronous.upper() not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={round(busy_seconds * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()


def _exclusive_sqlite_transactions(engine: Engine) -> None:
    """Make `engine.begin()` start with BEGIN EXCLUSIVE: the SQLite migration lock.

    The driver's own transaction handling would only begin a transaction at the first
    write, after Alembic has already read the current revision; taking the write lock at
    BEGIN makes read-revision-then-upgrade one serialised step.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN EXCLUSIVE")


def create_engine_for(url: str, *, synchronous: str = SQLITE_SYNCHRONOUS,
                      ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> AsyncEngine:
    """The service's engine; its errors are the store's (see store/errors.py).
    `ping_after_idle`: see `ping_idle_connections` (PostgreSQL)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        tune_sqlite(engine.sync_engine, synchronous=synchronous)
    else:
        engine = create_async_engine(url, pool_size=10, max_overflow=10)
        ping_idle_connections(engine.sync_engine, after=ping_after_idle)
    translate_errors(engine.sync_engine)
    return engine


def ping_idle_connections(engine: Engine, *, after: float) -> None:
    """Ping a pooled connection before it is lent only if it sat idle `after` seconds.

    The pool's own `pre_ping` pings at every checkout: a round trip before every
    statement, a tenth of a PUT on PostgreSQL. A connection given back a moment ago was
    working then; one that sat idle may have been cut since (a restarted server, a
    terminated backend, a firewall's idle timeout), so it is pinged, and a dead one is
    replaced, with every connection pooled before it (a restart killed them all), before
    any request sees it. What the window leaves: a connection cut less than `after`
    seconds after its last use fails its next statement (a 503 the client may retry),
    and that failure replaces the pool. The same trade as HikariCP's
    `aliveBypassWindowMs` (500 ms there)."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned <= after:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            # The pool makes a new connection and retries; one that cannot be made
            # fails as connecting does (store/errors.py: unavailable).
            raise InvalidatePoolError(f"an idle pooled connection failed its ping: "
                                      f"{type(exc).__name__}") from exc


def blocking_sqlite_engine(url: str, *, busy_seconds: float,
                           synchronous: str = SQLITE_SYNCHRONOUS) -> Engine:
    """One blocking connection to a SQLite file, tuned like the service's own, for the
    few paths that must not pay the async driver's trips to its thread."""
    engine = create_engine(sync_url(url), poolclass=StaticPool,
                           connect_args={"check_same_thread": False, "timeout": busy_seconds})
    tune_sqlite(engine, busy_seconds=busy_seconds, synchronous=synchronous)
    return engine


def migration_engine(url: str) -> Engine:
    """A blocking engine whose transactions hold the migration lock (SQLite) or can take it."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        tune_sqlite(engine, busy_seconds=SQLITE_MIGRATION_BUSY_SECONDS, synchronous="full")
        _exclusive_sqlite_transactions(engine)
    return engine


def take_migration_lock(connection: Connection) -> None:
    """Hold the migration lock until the connection's transaction ends.

    SQLite: the transaction is already exclusive. PostgreSQL: a transaction-scoped
    advisory lock, released by the commit or the rollback (or the death of the session),
    so a crashed instance never leaves it behind.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name), "
                 "hashtext(coalesce(current_schema(), '')))"),
            {"name": MIGRATION_LOCK_NAME},
        )


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*"([^"]*)"', re.MULTILINE)


def newest_revision() -> str | None:
    """The head of the migration scripts, read from their `revision` and
    `down_revision` lines; None if that is not one revision (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 else None


def at_newest_revision(url: str) -> bool:
    """Whether the schema is already at the newest revision (False when unsure)."""
    head = newest_revision()
    if head is None:
        return False
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:  # no schema yet (or unreadable): the migration will tell
        return False
    finally:
        engine.dispose()
    return [row[0] for row in rows] == [head]


def migrate(url: str) -> None:
    """Create or upgrade the schema to the newest revision (blocking; run before serving)."""
    if at_newest_revision(url):
        return
    from alembic import command
    from alembic.config import Config

    for attempt in range(1, SQLITE_LOCKED_ATTEMPTS + 1):
        engine = migration_engine(url)
        try:
            with engine.begin() as connection:
                take_migration_lock(connection)
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS_DIR))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except OperationalError as exc:
            # SQLite answers "database is locked" at once, without waiting out the busy
            # timeout, when connections that start together meet while one switches the
            # new file to WAL. The transaction rolled back; once the other instance is
            # done, upgrading again finds the newest revision and does nothing.
            if (engine.dialect.name != "sqlite" or "database is locked" not in str(exc)
                    or attempt == SQLITE_LOCKED_ATTEMPTS):
                raise
            log.info("the database was locked by another instance starting at the same "
                     "moment; migrating again (attempt %d)", attempt + 1)
            time.sleep(0.2 * attempt)
        finally:
            engine.dispose()
