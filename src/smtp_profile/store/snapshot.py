"""Everything a request must know before it may be answered, read in one query.

Every API call needs the caller's user record (hash and permissions), the caller's
failed sign-in counts (per user and per address: several instances share them) and the
stored profile's version. One SELECT of indexed single-row look-ups fetches all three, so
a GET that no write preceded costs one round trip: a version check.

On SQLite it usually costs none: `PRAGMA data_version` changes whenever another
connection (in this process or another instance's) commits, so while it stands still a
snapshot read earlier is still the truth and is served from memory.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.permissions import parse_permissions
from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.throttle import Counted, address_key, user_key
from smtp_profile.store.tables import smtp_profile, throttle, users
from smtp_profile.store.users import UserRecord, name_key

_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Snapshot:
    profile_version: int
    user: UserRecord | None
    counters: Mapping[str, Counted] = field(default_factory=dict)


def _seconds(value: datetime) -> float:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.timestamp()


def _statement(name: str, client: str) -> Select[tuple[object, ...]]:
    key = name_key(name)

    def user_column(column: str) -> object:
        return (select(users.c[column]).where(users.c.name_key == key)
                .scalar_subquery().label(f"user_{column}"))

    def counter(label: str, wanted: str) -> list[object]:
        return [select(throttle.c[column]).where(throttle.c.key == wanted)
                .scalar_subquery().label(f"{label}_{column}")
                for column in ("count", "last_at")]

    return select(
        select(smtp_profile.c.version).where(smtp_profile.c.id == PROFILE_ID)
        .scalar_subquery().label("profile_version"),
        *(user_column(c) for c in ("name", "password_hash", "permissions", "created_at")),
        *counter("by_user", user_key(name)),
        *counter("by_address", address_key(client)),
    )


class DataVersion:
    """SQLite's commit counter, read on a connection of its own (never in a transaction).

    The call is a few microseconds and takes no lock, so it runs on the event loop.
    """

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None,
                                           check_same_thread=False)

    def current(self) -> int:
        return int(self._connection.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._connection.close()


class SnapshotReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        database = engine.url.database
        self._watch = (DataVersion(database)
                       if engine.dialect.name == "sqlite" and database not in (None, "",
                                                                               ":memory:")
                       else None)
        self._seen: int | None = None
        self._cache: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()

    def remembered(self, name: str, client: str) -> Snapshot | None:
        """The snapshot read earlier for (name, client), if nothing committed since."""
        if self._watch is None or not self._still_valid():
            return None
        key = (name_key(name), client)
        snapshot = self._cache.get(key)
        if snapshot is not None:
            self._cache.move_to_end(key)
        return snapshot

    async def read(self, name: str, client: str) -> Snapshot:
        """The current snapshot: remembered, or read in one query."""
        remembered = self.remembered(name, client)
        if remembered is not None:
            return remembered
        async with self._engine.connect() as connection:
            row = (await connection.execute(_statement(name, client))).one()._mapping
        snapshot = Snapshot(
            profile_version=int(row["profile_version"]),
            user=None if row["user_name"] is None else UserRecord(
                row["user_name"], row["user_password_hash"],
                parse_permissions(str(row["user_permissions"]).split()),
                row["user_created_at"]),
            counters={
                key: Counted(int(row[f"{label}_count"]), _seconds(row[f"{label}_last_at"]))
                for label, key in (("by_user", user_key(name)),
                                   ("by_address", address_key(client)))
                if row[f"{label}_count"] is not None
            },
        )
        if self._watch is not None:
            self._cache[(name_key(name), client)] = snapshot
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return snapshot

    def _still_valid(self) -> bool:
        """False (and the memory emptied) if anything committed since the last look.

        The look happens before any read it guards, so a commit racing that read changes
        the counter after the look and empties the memory at the next one.
        """
        assert self._watch is not None
        try:
            version = self._watch.current()
        except sqlite3.Error:
            self._cache.clear()
            self._seen = None
            return False
        if version != self._seen:
            self._cache.clear()
            self._seen = version
            return False
        return True

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
