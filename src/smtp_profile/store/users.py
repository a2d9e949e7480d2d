"""Local users: name, argon2 hash and permissions. Names compare case-insensitively.

Changing a user's password or removing the user ends that user's web sessions in the
same transaction: a password reset must lock out whoever knew the old one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.permissions import Permission, parse_permissions
from smtp_profile.domain.stored import UserRecord
from smtp_profile.store.tables import users, web_sessions
from smtp_profile.usecases.ports import StoreConflict, UnknownUser, UserExists


def name_key(name: str) -> str:
    return name.strip().lower()


def _permissions_text(permissions: frozenset[Permission]) -> str:
    return " ".join(sorted(p.value for p in permissions))


class UserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, name: str) -> UserRecord | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(users).where(users.c.name_key == name_key(name))
            )).one_or_none()
        if row is None:
            return None
        return UserRecord(row.name, row.password_hash,
                          parse_permissions(row.permissions.split()), row.created_at)

    async def list(self) -> list[UserRecord]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(select(users).order_by(users.c.name_key))).all()
        return [UserRecord(r.name, r.password_hash, parse_permissions(r.permissions.split()),
                           r.created_at) for r in rows]

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(users)))
                       .scalar_one())

    async def add(self, name: str, password_hash: str,
                  permissions: frozenset[Permission]) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(users).values(
                    name=name.strip(), name_key=name_key(name), password_hash=password_hash,
                    permissions=_permissions_text(permissions), created_at=datetime.now(UTC),
                ))
        except StoreConflict:
            raise UserExists(name) from None

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(users).where(users.c.name_key == name_key(name))
                .values(password_hash=password_hash)
            )
            if result.rowcount != 1:
                raise UnknownUser(name)
            await connection.execute(
                delete(web_sessions).where(web_sessions.c.user_name_key == name_key(name))
            )

    async def remove(self, name: str) -> None:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(users).where(users.c.name_key == name_key(name))
            )
            if result.rowcount != 1:
                raise UnknownUser(name)
            await connection.execute(
                delete(web_sessions).where(web_sessions.c.user_name_key == name_key(name))
            )
