"""Web sessions in the database, so that every instance on one database knows them.

Rows are keyed by the hash of the token; the token itself never reaches this module.
A session is looked up together with its user, so a removed user's sessions stop
working at once and permission changes apply to the next request.

What a look-up found is remembered while the commit counter stands still (the
`sessions` memory of usecases/memory.py, which this repository fills and consults): a
sign-out, a user removed or changed, a session slid, by any instance or command, is a
commit that moves it, so the next look-up reads again; and a remembered session counts
only until its stored end. Without a counter (an in-memory SQLite database) nothing is
remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.permissions import parse_permissions
from smtp_profile.domain.stored import SessionRecord
from smtp_profile.store.tables import users, web_sessions
from smtp_profile.store.users import name_key
from smtp_profile.usecases.memory import ResolvedSessions

FIND = (
    select(users.c.name, users.c.permissions, web_sessions.c.created_at,
           web_sessions.c.expires_at)
    .select_from(web_sessions.join(users, users.c.name_key == web_sessions.c.user_name_key))
    .where(web_sessions.c.token_hash == bindparam("token_hash"))
    .where(web_sessions.c.expires_at > bindparam("now", type_=web_sessions.c.expires_at.type))
)
"""A live session and its user, built once (what the change feed's triggers must watch:
tests/store/test_change_feed.py walks it)."""


class SessionRepository:
    def __init__(self, engine: AsyncEngine, memory: ResolvedSessions | None = None,
                 commit_counter: Callable[[], int | None] | None = None) -> None:
        """`memory` is used only with `commit_counter` (the snapshot reader's)."""
        self._engine = engine
        self._memory = memory if commit_counter is not None else None
        self._counter = commit_counter or (lambda: None)

    def remembered(self, token_hash: str, now: datetime) -> SessionRecord | None:
        """The session found before with this hash, if nothing committed since and its
        stored end is after `now`; no I/O."""
        if self._memory is None:
            return None
        return self._memory.get(token_hash, self._counter(), now)

    def epoch(self) -> int | None:
        return None if self._memory is None else self._memory.epoch

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
        remembered = self.remembered(token_hash, now)
        if remembered is not None:
            return remembered
        looked_at = None if self._memory is None else self._memory.seen
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                FIND, {"token_hash": token_hash, "now": now})).one_or_none()
        if row is None:
            return None
        record = SessionRecord(row.name, parse_permissions(row.permissions.split()),
                               as_utc(row.created_at), as_utc(row.expires_at))
        if self._memory is not None:
            self._memory.put(token_hash, record, looked_at=looked_at)
        return record

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
        if self._memory is not None:  # before this instance hears of its own commit
            self._memory.invalidate()
        return bool(result.rowcount)

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(
                select(func.count()).select_from(web_sessions))).scalar_one())
