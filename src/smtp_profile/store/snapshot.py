"""Everything a request must know before it may be answered, read in one query.

Every API call needs the caller's user record (hash and permissions), the caller's
sign-in counters (per user, per address and per both: several instances share them,
and whether the user signed in from this address before) and the stored profile's
version. One SELECT of indexed single-row look-ups fetches all three, so
a GET that no write preceded costs one round trip: a version check.

It usually costs none. On SQLite `PRAGMA data_version` changes whenever another
connection (in this process or another instance's) commits; on PostgreSQL the change
feed (store/change_feed.py) counts the notifications the tables' triggers send. While
that counter stands still a snapshot read earlier is still the truth and is served from
memory (the `snapshots` memory of usecases/memory.py, which this reader fills and
consults); while it cannot be read (the feed's connection is down) every read queries.
When SQLite's counter moved, the snapshot is read on a connection of its own, right on
the event loop: in WAL mode a reader takes no lock a writer holds, so the read costs
tens of microseconds, where the async driver's trips to its thread cost most of a
millisecond. Should the database be busy all the same, the read goes the async way.
On PostgreSQL the read is one SELECT, its own consistent view of the tables, so it runs
in autocommit: no BEGIN before it and no ROLLBACK after it (two round trips of the
four a read cost, about a quarter of a PUT's time at concurrency 1).

SQLite's counter is read at most once per turn of the event loop (`TurnReading`): on
a busy instance the requests of one turn share one reading instead of a locked read of
the database file each.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import Label

from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.permissions import parse_permissions
from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.stored import Snapshot, UserRecord
from smtp_profile.domain.throttle import Counted, address_key, pair_key, user_key
from smtp_profile.store.client_certificates import CLIENT_CERTIFICATE_ROW
from smtp_profile.store.database import blocking_sqlite_engine
from smtp_profile.store.tables import (
    client_certificate_version,
    relay_options,
    sign_in_addresses,
    smtp_profile,
    throttle,
    users,
)
from smtp_profile.store.throttle import known_key
from smtp_profile.store.users import name_key
from smtp_profile.usecases.memory import CommitGuarded

if TYPE_CHECKING:
    from smtp_profile.store.change_feed import PostgresChangeFeed

INLINE_BUSY_SECONDS = 0.02  # busy longer than this: the read goes the async way


def _seconds(value: datetime) -> float:
    return as_utc(value).timestamp()


def _statement() -> Select[*tuple[Any, ...]]:
    """Built once: the names and keys are bound parameters."""

    def user_column(column: str) -> Label[Any]:
        return (select(users.c[column]).where(users.c.name_key == bindparam("name_key"))
                .scalar_subquery().label(f"user_{column}"))

    def counter(label: str) -> list[Label[Any]]:
        return [select(throttle.c[column]).where(throttle.c.key == bindparam(f"{label}_key"))
                .scalar_subquery().label(f"{label}_{column}")
                for column in ("count", "last_at", "blocked_until")]

    columns: list[Label[Any]] = [
        select(smtp_profile.c.version).where(smtp_profile.c.id == PROFILE_ID)
        .scalar_subquery().label("profile_version"),
        select(smtp_profile.c.generation).where(smtp_profile.c.id == PROFILE_ID)
        .scalar_subquery().label("profile_generation"),
        *(user_column(c) for c in ("name", "password_hash", "permissions", "created_at")),
        *counter("by_user"),
        *counter("by_address"),
        *counter("by_pair"),
        select(sign_in_addresses.c.last_at)
        .where((sign_in_addresses.c.user_key == bindparam("known_user"))
               & (sign_in_addresses.c.address == bindparam("known_address")))
        .scalar_subquery().label("known_at"),
        select(relay_options.c.updated_at).where(relay_options.c.id == PROFILE_ID)
        .scalar_subquery().label("options_stamp"),
        select(client_certificate_version.c.version)
        .where(client_certificate_version.c.id == CLIENT_CERTIFICATE_ROW)
        .scalar_subquery().label("client_certificate_version"),
    ]
    return select(*columns)


_STATEMENT = _statement()


class InlineSQLite:
    """A blocking connection of the reader's own, used only on the event loop's thread:
    SQLite's commit counter, and the snapshot read when the counter moved.

    Both go straight to the driver. The snapshot statement is compiled once, here, and
    its columns' result processors (SQLite's text dates into datetimes) taken from
    SQLAlchemy's types, so a read gives what SQLAlchemy would give; SQLAlchemy's
    execution around it (its events, contexts and result objects) cost about 130 of the
    170 microseconds a read took, and every request after a commit (a PUT's, a Test's
    audit record) pays one. `trace` shows these reads to whoever counts statements."""

    def __init__(self, url: str) -> None:
        self.engine = blocking_sqlite_engine(url, busy_seconds=INLINE_BUSY_SECONDS)
        self.connection = self.engine.connect()
        self._raw = cast(sqlite3.Connection, self.connection.connection.dbapi_connection)
        dialect = self.engine.dialect
        compiled = _STATEMENT.compile(dialect=dialect)
        self._compiled = compiled
        self._sql = compiled.string
        self._order = tuple(compiled.positiontup or ())
        # The parameters are text and integers, which the driver takes as they are.
        self._columns = tuple(
            (str(column.key), column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in _STATEMENT.selected_columns)

    def data_version(self) -> int:
        """A few microseconds: straight to the driver, past SQLAlchemy's execution."""
        return int(self._raw.execute("PRAGMA data_version").fetchone()[0])

    def read(self, parameters: dict[str, str]) -> dict[str, Any]:
        """The snapshot row by column name; raises `sqlite3.Error` (busy, among others)."""
        bound = self._compiled.construct_params(parameters)
        cursor = self._raw.execute(self._sql, [bound[name] for name in self._order])
        try:
            [row] = cursor.fetchall()  # read to its end: no read transaction outlives it
        finally:
            cursor.close()
        return {name: value if process is None else process(value)
                for (name, process), value in zip(self._columns, row, strict=True)}

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Call `callback` with every statement this connection runs (None: stop)."""
        self._raw.set_trace_callback(callback)

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


class TurnReading:
    """A counter read at most once per turn of the event loop, which is never stale for
    a request.

    A reading is reused only until the loop runs the callback queued when it was taken.
    Whatever runs before that callback was already queued, or already running, when the
    reading was taken, so every request it serves had arrived by then (uvicorn reads a
    request in one turn and runs the app for it in a later one), and every commit that
    request could know of (one that ended before it was sent) had moved the counter
    before the reading. A request that arrives later runs after the callback and takes
    a reading of its own. Off the loop's thread, or with no loop running, every call
    reads."""

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._loop: asyncio.AbstractEventLoop | None = None
        self._value = 0

    def __call__(self) -> int:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._read()
        if self._loop is loop:
            return self._value
        value = self._read()
        self._loop, self._value = loop, value
        loop.call_soon(self._forget)
        return value

    def _forget(self) -> None:
        self._loop = None


class SnapshotReader:
    def __init__(self, engine: AsyncEngine,
                 memory: CommitGuarded[tuple[str, str], Snapshot] | None = None) -> None:
        self._engine = engine
        database = engine.url.database
        self._inline = (InlineSQLite(engine.url.render_as_string(hide_password=False))
                        if engine.dialect.name == "sqlite" and database not in (None, "",
                                                                               ":memory:")
                        else None)
        self._data_version = (None if self._inline is None
                              else TurnReading(self._inline.data_version))
        self.changes: PostgresChangeFeed | None = None
        """PostgreSQL's change notifications (started by `start`), else None."""
        if engine.dialect.name == "postgresql":  # psycopg is imported only for PostgreSQL
            from smtp_profile.store.change_feed import PostgresChangeFeed, libpq_conninfo
            self.changes = PostgresChangeFeed(libpq_conninfo(engine.url))
        # Only where a commit counter guards it (see usecases/memory.py).
        self._memory: CommitGuarded[tuple[str, str], Snapshot] = (
            CommitGuarded() if memory is None else memory)

    def trace_inline(self, callback: Callable[[str], object] | None) -> None:
        """Call `callback` with each statement the inline connection (SQLite) runs, the
        commit counter's PRAGMA among them; None stops. For whoever counts queries."""
        if self._inline is not None:
            self._inline.trace(callback)

    @property
    def _guarded(self) -> bool:
        """Whether a commit counter exists here to guard remembered snapshots."""
        return self._inline is not None or self.changes is not None

    async def start(self) -> None:
        """Begin listening for changes (PostgreSQL); nothing to do on SQLite."""
        if self.changes is not None:
            await self.changes.start()

    def remembered(self, name: str, client: str) -> Snapshot | None:
        """The snapshot read earlier for (name, client), if nothing committed since."""
        if not self._guarded:
            return None
        return self._memory.get((name_key(name), client), self._commit_counter())

    async def read(self, name: str, client: str) -> Snapshot:
        """The current snapshot: remembered, or read in one query."""
        remembered = self.remembered(name, client)
        if remembered is not None:
            return remembered
        looked_at = self._memory.seen  # the commit counter this read is guarded by
        parameters = {"name_key": name_key(name), "by_user_key": user_key(name),
                      "by_address_key": address_key(client),
                      "by_pair_key": pair_key(name, client),
                      "known_user": known_key(name), "known_address": client[:64]}
        row = await self._row(parameters)
        snapshot = Snapshot(
            profile_version=int(row["profile_version"]),
            profile_generation=str(row["profile_generation"]),
            user=None if row["user_name"] is None else UserRecord(
                row["user_name"], row["user_password_hash"],
                parse_permissions(str(row["user_permissions"]).split()),
                row["user_created_at"]),
            counters={
                key: Counted(int(row[f"{label}_count"]), _seconds(row[f"{label}_last_at"]),
                             None if row[f"{label}_blocked_until"] is None
                             else _seconds(row[f"{label}_blocked_until"]))
                for label, key in (("by_user", user_key(name)),
                                   ("by_address", address_key(client)),
                                   ("by_pair", pair_key(name, client)))
                if row[f"{label}_count"]
            },
            known_address=row["known_at"] is not None,
            options_stamp=row["options_stamp"],
            client_certificate_version=row["client_certificate_version"],
        )
        if self._guarded:
            self._memory.put((name_key(name), client), snapshot, looked_at=looked_at)
        return snapshot

    async def _row(self, parameters: dict[str, str]) -> Mapping[Any, Any]:
        if self._inline is not None:
            # Busy (or failing): the async way, whose errors are translated for the caller.
            with contextlib.suppress(sqlite3.Error):
                return self._inline.read(parameters)
        async with self._engine.connect() as connection:
            if self.changes is not None:  # one SELECT: no BEGIN, no ROLLBACK
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return (await connection.execute(_STATEMENT, parameters)).one()._mapping

    def commit_counter(self) -> int | None:
        """SQLite's commit counter on the inline connection, or the count of PostgreSQL's
        change notifications; None if unreadable, not listening, or there is none (an
        in-memory database): what guards every memory of the stored state."""
        if not self._guarded:
            return None
        return self._commit_counter()

    def _commit_counter(self) -> int | None:
        if self.changes is not None:
            return self.changes.current()
        assert self._data_version is not None
        try:
            return self._data_version()
        except (SQLAlchemyError, sqlite3.Error):
            return None

    async def aclose(self) -> None:
        if self.changes is not None:
            await self.changes.aclose()
        if self._inline is not None:
            self._inline.close()
