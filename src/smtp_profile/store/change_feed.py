"""PostgreSQL's word that something a snapshot reads has changed: LISTEN/NOTIFY.

Triggers (migrations 0015, 0016 and 0017) notify on `smtp_profile_<schema>` whenever a
statement changes the profile, the options, a user, a sign-in counter, a known address,
a web session or the relay client certificate, and PostgreSQL sends the notification
when that transaction commits.
This feed listens on a connection of its own and counts what arrives; the count plays
the part SQLite's `PRAGMA data_version` plays there: while it stands still, a snapshot
or a session read earlier is still the truth (usecases/memory.py, `snapshots` and
`sessions`), so a GET costs no query.

Reading the count first drains whatever the socket already holds (one non-blocking
`recv`), so a notification that arrived before the request is never overlooked. While
the connection is down the count is None: every request reads the database, as it did
before this feed, and the outage is logged once; the feed reconnects with a growing
pause and counts the reconnection as a change, since notifications sent meanwhile are
lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Pauses before each reconnection attempt; the last repeats."""
KEEPALIVE = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5",
             "keepalives_count": "3", "connect_timeout": "5"}
"""A listener sends nothing: TCP keep-alives find a dead peer within about 25 s; and a
connection attempt gives up after 5 s rather than hang on a server in trouble."""


def channel_for(schema: str) -> str:
    return f"smtp_profile_{schema}"


def libpq_conninfo(url: URL) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as a libpq URL for psycopg."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresChangeFeed:
    """Counts change notifications; `current()` is None while it cannot hear them."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._lost: asyncio.Future[None] | None = None
        self._fd: int | None = None
        self._down_since_logged = False
        self.outages = 0
        """How many times the feed lost (or could not open) its connection."""
        self.notifications = 0

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def current(self) -> int | None:
        """The change count, after taking in what already arrived; None: not listening."""
        connection = self._connection
        if connection is None:
            return None
        self._drain(connection)
        return None if self._connection is None else self._count

    async def start(self) -> None:
        """Listen (or start trying to, in the background, if the database is away)."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._keep_listening(), name="change-feed")
            # The first connection is usually there within a round trip: wait briefly so
            # the first requests already find the feed, but never hold up the start.
            for _ in range(50):
                if self._connection is not None or self._task.done():
                    break
                await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()

    async def _keep_listening(self) -> None:
        attempt = 0
        while not self._closed:
            lost = asyncio.get_running_loop().create_future()
            try:
                await self._listen(lost)
            except (psycopg.Error, OSError) as exc:
                self._outage(f"cannot listen for changes: {type(exc).__name__}: {exc}")
                pause = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                attempt += 1
                await asyncio.sleep(pause)
                continue
            attempt = 0
            await lost  # set by _drain when the connection breaks
            await self._drop()
            # Not at once: a connection that broke because the server is shutting down
            # would otherwise be retried into that shutdown, which then waits out the
            # half-open attempt (a minute of authentication_timeout) before it ends.
            await asyncio.sleep(RECONNECT_SECONDS[0])

    async def _listen(self, lost: asyncio.Future[None]) -> None:
        connection = await psycopg.AsyncConnection.connect(
            make_conninfo(self._conninfo, **KEEPALIVE), autocommit=True)
        try:
            schema = (await (await connection.execute("SELECT current_schema()")).fetchone()
                      or ("public",))[0]
            await connection.execute(sql.SQL("LISTEN {}").format(
                sql.Identifier(channel_for(str(schema)))))
        except BaseException:
            await connection.close()
            raise
        self._count += 1  # anything may have changed while nobody listened
        self._connection = connection
        self._lost = lost
        # The descriptor is kept: a broken connection no longer tells its socket, and a
        # reader left registered on a descriptor the system then gives to the next
        # accepted HTTP connection would leave that request unread.
        self._fd = connection.pgconn.socket
        asyncio.get_running_loop().add_reader(self._fd, self._drain,
                                              connection)
        if self._down_since_logged:
            self._down_since_logged = False
            log.warning("listening for database changes again: GET reads from memory again")

    def _drain(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        if connection is not self._connection:
            return
        pgconn = connection.pgconn
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                self._count += 1
                self.notifications += 1
        except psycopg.Error as exc:
            self._broken(connection, f"{type(exc).__name__}: {exc}")
            return
        if pgconn.status != pq.ConnStatus.OK:
            self._broken(connection, "the connection is closed")

    def _broken(self, connection: psycopg.AsyncConnection[tuple[object, ...]],
                why: str) -> None:
        self._unwatch()
        self._connection = None
        self._outage(f"lost the connection that listens for changes ({why.strip()})")
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _unwatch(self) -> None:
        """Stop watching the listening socket, by the descriptor it was watched under."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(fd)

    def _outage(self, why: str) -> None:
        """Logged once per outage (a warning); each failed attempt after it at debug."""
        if self._down_since_logged:
            log.debug("%s; still reading the database on every GET", why)
            return
        self.outages += 1
        self._down_since_logged = True
        log.warning("%s; every GET reads the database until it is back", why)

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._unwatch()
        if connection is not None and not connection.closed:
            with contextlib.suppress(psycopg.Error, OSError):
                await connection.close()
