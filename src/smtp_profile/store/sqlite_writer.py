"""Writes to a SQLite file in one trip to a thread of their own.

Through the async driver, a one-row insert and its commit take five trips between the
event loop and the driver's thread (cursor, execute, close, commit, reset), most of a
millisecond; here the whole transaction runs in one. It serves the writes that happen
on every Test and Diagnose (the audit record), not the PUT, which needs the async
connection's transaction. The connection is tuned like every other (WAL, busy timeout,
synchronous=FULL), so a record is on disk before the caller hears it was written.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Executable

from smtp_profile.store.database import SQLITE_BUSY_SECONDS, blocking_sqlite_engine
from smtp_profile.store.errors import translate_errors


class SQLiteWriter:
    def __init__(self, url: str) -> None:
        self._engine = blocking_sqlite_engine(url, busy_seconds=SQLITE_BUSY_SECONDS)
        translate_errors(self._engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    async def execute(self, statement: Executable) -> None:
        """Run `statement` in a transaction of its own, committed when this returns."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._execute,
                                                         statement)

    def _execute(self, statement: Executable) -> None:
        with self._engine.begin() as connection:
            connection.execute(statement)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()


def writer_for(url: str) -> SQLiteWriter | None:
    """A writer for a SQLite file; None for PostgreSQL (its driver is async already)."""
    if not url.startswith("sqlite") or url.endswith(":memory:"):
        return None
    return SQLiteWriter(url)
