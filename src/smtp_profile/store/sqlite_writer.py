"""Writes to a SQLite file in one trip to a thread of their own.

Through the async driver, a one-row insert and its commit take five trips between the
event loop and the driver's thread (cursor, execute, close, commit, reset), most of a
millisecond; here the whole transaction runs in one. It serves the writes that happen
on every Test and Diagnose (the audit record) and a PUT's write when the profile it
replaces is known (`ProfileRepository`: the compare-and-swap update, the check of the
PAM providers it names and its audit record, in one transaction). The connection is
tuned like every other (WAL, busy timeout, the operator's `--sqlite-synchronous`), so
a record is committed before the caller hears it was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable

from smtp_profile.store.database import (
    SQLITE_BUSY_SECONDS,
    SQLITE_SYNCHRONOUS,
    blocking_sqlite_engine,
)
from smtp_profile.store.errors import translate_errors

T = TypeVar("T")


class SQLiteWriter:
    def __init__(self, url: str, *, synchronous: str = SQLITE_SYNCHRONOUS) -> None:
        self._engine = blocking_sqlite_engine(url, busy_seconds=SQLITE_BUSY_SECONDS,
                                              synchronous=synchronous)
        translate_errors(self._engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    @property
    def engine(self) -> Engine:
        """The writer's engine (tests listen to its statements)."""
        return self._engine

    async def execute(self, statement: Executable,
                      parameters: dict[str, Any] | None = None) -> None:
        """Run `statement` (with `parameters`) in a transaction of its own, committed when
        this returns."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._execute,
                                                         statement, parameters)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction, begun IMMEDIATE (the write lock taken before
        its first read), committed when `work` returns, rolled back if it raises: all
        in one trip to the writer's thread. `work` must not touch the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._thread,
                                                                self._transaction, work)

    def _execute(self, statement: Executable, parameters: dict[str, Any] | None) -> None:
        with self._engine.begin() as connection:
            connection.execute(statement, parameters)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            # The driver would begin (deferred) only at the first write, leaving a read
            # before it outside the transaction.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return work(connection)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()


def writer_for(url: str, *, synchronous: str = SQLITE_SYNCHRONOUS) -> SQLiteWriter | None:
    """A writer for a SQLite file; None for PostgreSQL (its driver is async already)."""
    if not url.startswith("sqlite") or url.endswith(":memory:"):
        return None
    return SQLiteWriter(url, synchronous=synchronous)
