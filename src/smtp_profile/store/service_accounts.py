"""The service account row: load it, replace or clear it atomically, re-seal its key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.relay_options import TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.service_account import (
    RelayBinding,
    ServiceAccount,
    ServiceAccountKey,
    StoredServiceAccount,
)
from smtp_profile.store.secret_box import SecretBox
from smtp_profile.store.tables import service_account
from smtp_profile.store.transaction import ConnectionTransaction
from smtp_profile.usecases.ports import OnServiceAccountWrite

# The AEAD context (the column's name), not a secret.
_PRIVATE_KEY_CONTEXT = "service_account.private_key_sealed"
_MAX_ATTEMPTS = 20


class ServiceAccountRepository:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box
        self._writers = asyncio.Lock()  # this process's writes, one at a time

    async def load(self) -> StoredServiceAccount:
        async with self._engine.connect() as connection:
            return await self._load(connection)

    async def replace(self, account: ServiceAccount | None, *, actor: str,
                      expected_version: int | None = None,
                      on_write: OnServiceAccountWrite | None = None) -> StoredServiceAccount:
        """Store `account` (None: clear the key) with whatever `on_write` writes, in one
        transaction; the version makes the update a compare-and-swap, and with
        `expected_version` a changed row is a 412."""
        async with self._writers:
            for _ in range(_MAX_ATTEMPTS):
                async with self._engine.begin() as connection:
                    current = await self._load(connection, for_update=True)
                    if expected_version is not None and current.version != expected_version:
                        raise DomainError(
                            ErrorKind.PRECONDITION_FAILED,
                            "The service account changed since it was read (If-Match does "
                            "not match); GET it again and resend your change.")
                    now = datetime.now(UTC)
                    result = await connection.execute(
                        update(service_account)
                        .where(service_account.c.id == PROFILE_ID)
                        .where(service_account.c.version == current.version)
                        .values(**self._row(account), version=current.version + 1,
                                updated_at=now, updated_by=actor))
                    if result.rowcount == 1:
                        stored = StoredServiceAccount(account, current.version + 1, now, actor)
                        if on_write is not None:
                            await on_write(ConnectionTransaction(connection), current, stored)
                        return stored
        raise DomainError(ErrorKind.STORE_UNAVAILABLE,
                          "The service account is being changed by too many writers; retry.")

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt the private key under `new_box`; how many were sealed (0 or 1)."""
        async with self._writers, self._engine.begin() as connection:
            row = (await connection.execute(
                select(service_account.c.version, service_account.c.private_key_sealed)
                .where(service_account.c.id == PROFILE_ID).with_for_update())).one()
            if row.private_key_sealed is None:
                return 0
            sealed = new_box.seal(self._box.open(row.private_key_sealed,
                                                 _PRIVATE_KEY_CONTEXT), _PRIVATE_KEY_CONTEXT)
            await connection.execute(
                update(service_account).where(service_account.c.id == PROFILE_ID)
                .values(private_key_sealed=sealed, version=row.version + 1))
            return 1

    async def _load(self, connection: AsyncConnection, *,
                    for_update: bool = False) -> StoredServiceAccount:
        statement = select(service_account).where(service_account.c.id == PROFILE_ID)
        if for_update:  # SELECT ... FOR UPDATE; SQLAlchemy omits it where unsupported
            statement = statement.with_for_update()
        row = (await connection.execute(statement)).one()._mapping
        account = None
        if row["private_key_sealed"] is not None:
            key = ServiceAccountKey(
                client_email=row["client_email"], private_key_id=row["private_key_id"],
                token_uri=row["token_uri"], client_id=row["client_id"],
                private_key=Secret(self._box.open(row["private_key_sealed"],
                                                  _PRIVATE_KEY_CONTEXT)),
                project_id=row["project_id"])
            account = ServiceAccount(
                key, RelayBinding(row["relay_host"], row["relay_port"],
                                  bool(row["relay_use_ssl"])),
                TrustBinding.from_json(row["secret_trust"]))
        return StoredServiceAccount(account, row["version"], row["updated_at"],
                                    row["updated_by"])

    def _row(self, account: ServiceAccount | None) -> dict[str, Any]:
        if account is None:
            return dict.fromkeys(
                ("client_email", "private_key_id", "token_uri", "client_id", "project_id",
                 "private_key_sealed", "relay_host", "relay_port", "relay_use_ssl",
                 "secret_trust"))
        key = account.key
        return {
            "client_email": key.client_email, "private_key_id": key.private_key_id,
            "token_uri": key.token_uri, "client_id": key.client_id,
            "project_id": key.project_id,
            "private_key_sealed": self._box.seal(key.private_key.reveal(),
                                                 _PRIVATE_KEY_CONTEXT),
            "relay_host": account.relay.host, "relay_port": account.relay.port,
            "relay_use_ssl": account.relay.use_ssl,
            "secret_trust": None if account.trust is None else account.trust.to_json(),
        }
