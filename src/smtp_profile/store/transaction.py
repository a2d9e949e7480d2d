"""The store's side of the use cases' opaque `Transaction`: a write's connection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from smtp_profile.usecases.ports import Transaction


class ConnectionTransaction(Transaction):
    """A transaction open on `connection`; what runs on it commits with the write."""

    __slots__ = ("connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection


def connection_of(transaction: Transaction) -> AsyncConnection:
    """The connection behind a transaction this store opened."""
    if not isinstance(transaction, ConnectionTransaction):
        raise TypeError(f"not a transaction of this store: {type(transaction).__name__}")
    return transaction.connection
