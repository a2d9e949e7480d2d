"""The store's side of the use cases' opaque `Transaction`: a write's connection, or the
writes queued for a transaction that runs in one trip to a thread."""

from __future__ import annotations

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection

from smtp_profile.usecases.ports import Transaction


class ConnectionTransaction(Transaction):
    """A transaction open on `connection`; what runs on it commits with the write."""

    __slots__ = ("connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection


class QueuedTransaction(Transaction):
    """A transaction not open yet: the writes handed to it run, in order, inside the
    write it belongs to, after that write's own statements and before its commit (see
    `ProfileRepository` on SQLite). Only for writes whose result nobody reads; if the
    write does not happen, neither do they."""

    __slots__ = ("statements",)

    def __init__(self) -> None:
        self.statements: list[Executable] = []


def connection_of(transaction: Transaction) -> AsyncConnection:
    """The connection behind a transaction this store opened."""
    if not isinstance(transaction, ConnectionTransaction):
        raise TypeError(f"not a transaction of this store: {type(transaction).__name__}")
    return transaction.connection


async def write_in(transaction: Transaction, statement: Executable) -> None:
    """Run `statement`, whose result nobody reads, inside `transaction`: now on its
    connection, or queued to run before its commit."""
    if isinstance(transaction, QueuedTransaction):
        transaction.statements.append(statement)
        return
    await connection_of(transaction).execute(statement)
