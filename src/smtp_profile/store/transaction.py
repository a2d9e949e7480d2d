"""The store's side of the use cases' opaque `Transaction`: a write's connection, or the
writes queued for a transaction that runs in one trip to a thread."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from smtp_profile.usecases.ports import Transaction


class ConnectionTransaction(Transaction):
    """A transaction open on `connection`; what runs on it commits with the write."""

    __slots__ = ("connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection


class QueuedTransaction(Transaction):
    """A write not sent yet: the rows appended to it are inserted, in order, inside the
    write they belong to, after its own statements and before its commit, or in the
    same statement (`ProfileRepository`: SQLite's writer thread, PostgreSQL's single
    statement). If the write does not happen, neither do they."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple[Table, dict[str, Any]]] = []


@functools.cache
def insert_into(table: Table) -> Insert:
    """`INSERT INTO table`, built once per table; a row goes as its parameters (a
    statement built per row, `.values(row)` and its cache key, cost more than running it)."""
    return insert(table)


def connection_of(transaction: Transaction) -> AsyncConnection:
    """The connection behind a transaction this store opened."""
    if not isinstance(transaction, ConnectionTransaction):
        raise TypeError(f"not a transaction of this store: {type(transaction).__name__}")
    return transaction.connection


async def append_in(transaction: Transaction, table: Table, row: dict[str, Any]) -> None:
    """Insert `row` into `table` inside `transaction`: now on its connection, or queued
    to go with its write."""
    if isinstance(transaction, QueuedTransaction):
        transaction.rows.append((table, row))
        return
    await connection_of(transaction).execute(insert_into(table), row)
