"""The PAM providers' rows: plain settings as JSON, secret ones sealed together.

A provider's write and its audit record commit in one transaction (`on_write`). A
provider the profile refers to cannot be deleted: the delete reads the profile row
(locked on PostgreSQL, as a profile write locks it) in the same transaction, so a PUT
that starts referring to the provider either commits first (and the delete is refused)
or waits and then finds the provider gone (store/profiles.py `_check_providers`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.pam import PamProvider
from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.secrets import Secret
from smtp_profile.store.secret_box import SecretBox
from smtp_profile.store.tables import pam_providers, smtp_profile
from smtp_profile.store.transaction import ConnectionTransaction
from smtp_profile.usecases.ports import OnProviderWrite

# AEAD context (the column), not a secret.
_SECRETS_CONTEXT = "pam_providers.secrets_sealed"


def not_found(provider_id: int) -> DomainError:
    return DomainError(ErrorKind.PAM_PROVIDER_NOT_FOUND,
                       f"No PAM provider has the Id {provider_id}; see GET /PamProviders.")


class PamProviderRepository:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def list(self) -> list[PamProvider]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(
                select(pam_providers).order_by(pam_providers.c.id))).all()
        return [self._provider(row._mapping) for row in rows]

    async def get(self, provider_id: int) -> PamProvider | None:
        async with self._engine.connect() as connection:
            return await self._get(connection, provider_id)

    async def create(self, provider: PamProvider, *, actor: str,
                     on_write: OnProviderWrite | None = None) -> PamProvider:
        async with self._engine.begin() as connection:
            await self._refuse_taken_name(connection, provider.name, None)
            now = datetime.now(UTC)
            result = await connection.execute(
                insert(pam_providers).values(**self._row(provider), version=1,
                                             updated_at=now, updated_by=actor)
                .returning(pam_providers.c.id))
            new_id = int(result.scalar_one())
            stored = await self._get(connection, new_id)
            assert stored is not None
            if on_write is not None:
                await on_write(ConnectionTransaction(connection), None, stored)
        return stored

    async def update(self, provider_id: int, build: Callable[[PamProvider], PamProvider], *,
                     actor: str, on_write: OnProviderWrite | None = None) -> PamProvider:
        """Replace the provider with `build(current)`; the row is locked while it is read."""
        async with self._engine.begin() as connection:
            current = await self._get(connection, provider_id, for_update=True)
            if current is None:
                raise not_found(provider_id)
            new = build(current)
            await self._refuse_taken_name(connection, new.name, provider_id)
            await connection.execute(
                update(pam_providers).where(pam_providers.c.id == provider_id)
                .values(**self._row(new), version=current.version + 1,
                        updated_at=datetime.now(UTC), updated_by=actor))
            stored = await self._get(connection, provider_id)
            assert stored is not None
            if on_write is not None:
                await on_write(ConnectionTransaction(connection), current, stored)
        return stored

    async def delete(self, provider_id: int, *,
                     on_write: OnProviderWrite | None = None) -> PamProvider:
        """Remove the provider, refused (409) while the profile refers to it."""
        async with self._engine.begin() as connection:
            references = (await connection.execute(
                select(smtp_profile.c.secret_references)
                .where(smtp_profile.c.id == PROFILE_ID).with_for_update())).scalar_one()
            current = await self._get(connection, provider_id, for_update=True)
            if current is None:
                raise not_found(provider_id)
            users = [name for name, item in (references or {}).items()
                     if int(item["Provider"]) == provider_id]
            if users:
                raise DomainError(
                    ErrorKind.PAM_PROVIDER_IN_USE,
                    f"PAM provider {provider_id} ({current.name!r}) is in use by the SMTP "
                    f"profile's {', '.join(sorted(users))}: point them elsewhere (PUT "
                    "/SMTP with x-keyfactor-api-version: 2) before removing it.")
            await connection.execute(
                delete(pam_providers).where(pam_providers.c.id == provider_id))
            if on_write is not None:
                await on_write(ConnectionTransaction(connection), current, None)
        return current

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt every provider's secrets under `new_box`; returns how many."""
        count = 0
        async with self._engine.begin() as connection:
            rows = (await connection.execute(
                select(pam_providers.c.id, pam_providers.c.secrets_sealed)
                .with_for_update())).all()
            for row in rows:
                if row.secrets_sealed is None:
                    continue
                opened = self._box.open(row.secrets_sealed, _SECRETS_CONTEXT)
                await connection.execute(
                    update(pam_providers).where(pam_providers.c.id == row.id)
                    .values(secrets_sealed=new_box.seal(opened, _SECRETS_CONTEXT)))
                count += 1
        return count

    async def _refuse_taken_name(self, connection: AsyncConnection, name: str,
                                 own_id: int | None) -> None:
        taken = (await connection.execute(
            select(pam_providers.c.id).where(pam_providers.c.name_key == _name_key(name))
        )).scalar_one_or_none()
        if taken is not None and taken != own_id:
            raise DomainError(ErrorKind.PAM_PROVIDER_NAME_TAKEN,
                              f"PAM provider {taken} is already called {name!r}; choose "
                              "another Name.")

    async def _get(self, connection: AsyncConnection, provider_id: int, *,
                   for_update: bool = False) -> PamProvider | None:
        statement = select(pam_providers).where(pam_providers.c.id == provider_id)
        if for_update:
            statement = statement.with_for_update()
        row = (await connection.execute(statement)).one_or_none()
        return None if row is None else self._provider(row._mapping)

    def _provider(self, row: Any) -> PamProvider:
        sealed = row["secrets_sealed"]
        secrets: dict[str, str] = ({} if sealed is None else
                                   json.loads(self._box.open(sealed, _SECRETS_CONTEXT)))
        return PamProvider(
            id=row["id"], name=row["name"], type_name=row["type_name"],
            settings=tuple(sorted((str(k), str(v)) for k, v in row["settings"].items())),
            secrets=tuple(sorted((k, Secret(v)) for k, v in secrets.items())),
            version=row["version"], updated_at=row["updated_at"],
            updated_by=row["updated_by"])

    def _row(self, provider: PamProvider) -> dict[str, Any]:
        secrets = {name: secret.reveal() for name, secret in provider.secrets}
        return {
            "name": provider.name,
            "name_key": _name_key(provider.name),
            "type_name": provider.type_name,
            "settings": dict(provider.settings),
            "secrets_sealed": self._box.seal(json.dumps(secrets, sort_keys=True),
                                             _SECRETS_CONTEXT) if secrets else None,
        }


def _name_key(name: str) -> str:
    return name.strip().casefold()[:128]
