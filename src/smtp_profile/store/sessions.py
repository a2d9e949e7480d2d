"""Web sessions in the database, so that every instance on one database knows them.

Rows are keyed by the hash of the token; the token itself never reaches this module.
A session is looked up together with its user, so a removed user's sessions stop
working at once and permission changes apply to the next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.permissions import parse_permissions
from smtp_profile.domain.stored import SessionRecord
from smtp_profile.store.tables import users, web_sessions
from smtp_profile.store.users import name_key


class SessionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, token_hash: str, user_name: str, created_at: datetime,
                  expires_at: datetime) -> None:
        """Store a new session; expired ones are swept out in the same transaction."""
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(web_sessions).where(web_sessions.c.expires_at <= created_at)
            )
            await connection.execute(insert(web_sessions).values(
                token_hash=token_hash, user_name_key=name_key(user_name),
                created_at=created_at, expires_at=expires_at,
            ))

    async def find(self, token_hash: str, now: datetime) -> SessionRecord | None:
        """The live session with this hash and its user's current permissions."""
        query = (
            select(users.c.name, users.c.permissions, web_sessions.c.created_at,
                   web_sessions.c.expires_at)
            .select_from(web_sessions.join(
                users, users.c.name_key == web_sessions.c.user_name_key))
            .where(web_sessions.c.token_hash == token_hash)
            .where(web_sessions.c.expires_at > now)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return SessionRecord(row.name, parse_permissions(row.permissions.split()),
                             as_utc(row.created_at), as_utc(row.expires_at))

    async def extend(self, token_hash: str, expires_at: datetime) -> None:
        """Slide a session's end to `expires_at`; a later end already stored stays."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(web_sessions)
                .where(web_sessions.c.token_hash == token_hash)
                .where(web_sessions.c.expires_at < expires_at)
                .values(expires_at=expires_at)
            )

    async def remove(self, token_hash: str) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(web_sessions).where(web_sessions.c.token_hash == token_hash)
            )
        return bool(result.rowcount)

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(
                select(func.count()).select_from(web_sessions))).scalar_one())
