"""The OAuth credential row: the certificate credential (its key sealed) and the client
secret's recorded expiry. One row, id 1; its version is the ETag and makes each write a
compare-and-swap, like the relay options."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.oauth_credential import (
    CertificateCredential,
    CredentialBinding,
    OAuthCredentials,
    StoredCredentials,
)
from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.relay_options import DEFAULT_TRUST, TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.store.secret_box import SecretBox
from smtp_profile.store.tables import oauth_credential
from smtp_profile.store.transaction import ConnectionTransaction
from smtp_profile.usecases.ports import OnCredentialsWrite

_KEY_CONTEXT = "oauth_credential.private_key_sealed"
_MAX_ATTEMPTS = 20


class OAuthCredentialRepository:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box
        self._writers = asyncio.Lock()

    async def load(self) -> StoredCredentials:
        async with self._engine.connect() as connection:
            return await self._load(connection)

    async def replace(self, build: Callable[[StoredCredentials], OAuthCredentials], *,
                      actor: str, expected_version: int | None = None,
                      on_write: OnCredentialsWrite | None = None) -> StoredCredentials:
        """Store `build(current)` in one transaction with whatever `on_write` writes."""
        async with self._writers:
            for _ in range(_MAX_ATTEMPTS):
                async with self._engine.begin() as connection:
                    current = await self._load(connection, for_update=True)
                    if expected_version is not None and current.version != expected_version:
                        raise DomainError(
                            ErrorKind.PRECONDITION_FAILED,
                            "The OAuth credential changed since it was read (If-Match does "
                            "not match); GET it again and resend your change.")
                    new: OAuthCredentials = build(current)
                    now = datetime.now(UTC)
                    result = await connection.execute(
                        update(oauth_credential)
                        .where(oauth_credential.c.id == PROFILE_ID)
                        .where(oauth_credential.c.version == current.version)
                        .values(**self._row(new), version=current.version + 1,
                                updated_at=now, updated_by=actor))
                    if result.rowcount == 1:
                        stored = StoredCredentials(new, current.version + 1, now, actor)
                        if on_write is not None:
                            await on_write(ConnectionTransaction(connection), current, stored)
                        return stored
        raise DomainError(ErrorKind.STORE_UNAVAILABLE,
                          "The OAuth credential is being changed by too many writers; retry.")

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt the stored private key under `new_box` (rotate-key); how many."""
        async with self._engine.begin() as connection:
            row = (await connection.execute(
                select(oauth_credential.c.version, oauth_credential.c.private_key_sealed)
                .where(oauth_credential.c.id == PROFILE_ID).with_for_update())).one_or_none()
            if row is None or row.private_key_sealed is None:
                return 0
            sealed = new_box.seal(self._box.open(row.private_key_sealed, _KEY_CONTEXT),
                                  _KEY_CONTEXT)
            await connection.execute(
                update(oauth_credential).where(oauth_credential.c.id == PROFILE_ID)
                .values(private_key_sealed=sealed, version=row.version + 1))
        return 1

    async def _load(self, connection: AsyncConnection, *,
                    for_update: bool = False) -> StoredCredentials:
        statement = select(oauth_credential).where(oauth_credential.c.id == PROFILE_ID)
        if for_update:
            statement = statement.with_for_update()
        row = (await connection.execute(statement)).one()
        certificate = None
        if row.certificate_pem is not None and row.private_key_sealed is not None:
            certificate = CertificateCredential(
                row.certificate_pem,
                Secret(self._box.open(row.private_key_sealed, _KEY_CONTEXT)),
                row.algorithm,
                CredentialBinding(row.token_endpoint, row.client_id, row.host, row.port,
                                  bool(row.use_ssl)),
                TrustBinding.from_json(row.trust) or DEFAULT_TRUST)
        return StoredCredentials(
            OAuthCredentials(certificate, row.client_secret_expires), row.version,
            None if row.updated_at is None else as_utc(row.updated_at), row.updated_by)

    def _row(self, credentials: OAuthCredentials) -> dict[str, Any]:
        cert = credentials.certificate
        binding = None if cert is None else cert.binding
        return {
            "certificate_pem": None if cert is None else cert.certificate_pem,
            "private_key_sealed": None if cert is None
            else self._box.seal(cert.private_key.reveal(), _KEY_CONTEXT),
            "algorithm": None if cert is None else cert.algorithm,
            "token_endpoint": None if binding is None else binding.token_endpoint,
            "client_id": None if binding is None else binding.client_id,
            "host": None if binding is None else binding.host,
            "port": None if binding is None else binding.port,
            "use_ssl": None if binding is None else binding.use_ssl,
            "trust": None if cert is None else cert.trust.to_json(),
            "client_secret_expires": credentials.client_secret_expires,
        }
