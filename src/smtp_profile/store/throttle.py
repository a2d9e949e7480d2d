"""Counters shared by every instance: failed sign-ins per user and address, tests per
user and minute. One atomic upsert per count, so concurrent instances never lose one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.throttle import FORGET_AFTER_SECONDS
from smtp_profile.store.tables import throttle


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class ThrottleRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def increment(self, key: str, now: float) -> int:
        """Count one more for `key` (starting again after a quiet hour); the new count."""
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        at = _at(now)
        stale = _at(now - FORGET_AFTER_SECONDS)
        upsert = insert(throttle).values(key=key, count=1, last_at=at)
        statement = upsert.on_conflict_do_update(
            index_elements=[throttle.c.key],
            set_={
                "count": case((throttle.c.last_at < stale, 1), else_=throttle.c.count + 1),
                "last_at": at,
            },
        ).returning(throttle.c.count)
        async with self._engine.begin() as connection:
            return int((await connection.execute(statement)).scalar_one())

    async def clear(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(delete(throttle).where(throttle.c.key == key))

    async def prune(self, now: float) -> int:
        """Forget keys quiet for an hour (their counts no longer matter)."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(throttle).where(throttle.c.last_at < _at(now - FORGET_AFTER_SECONDS)))
        return int(result.rowcount or 0)

