"""The relay client certificate row: the chain, the sealed key, the binding, a version.

The private key is sealed with the key ring (`secret_box.py`) under its own AEAD context,
so a sealed key copied into another column does not open there.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.client_certificate import (
    ClientCertificate,
    Destination,
    StoredClientCertificate,
)
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.relay_options import DEFAULT_TRUST, TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import Snapshot
from smtp_profile.store.secret_box import SecretBox
from smtp_profile.store.tables import client_certificate, client_certificate_version
from smtp_profile.store.transaction import ConnectionTransaction
from smtp_profile.usecases.memory import LatestByStamp
from smtp_profile.usecases.ports import OnClientCertificateWrite

_KEY_CONTEXT = "client_certificate.key_sealed"  # an AEAD context (column name), no secret
CLIENT_CERTIFICATE_ROW = 1
"""The one row of `client_certificate` and `client_certificate_version`."""


class ClientCertificateRepository:
    def __init__(self, engine: AsyncEngine, box: SecretBox,
                 memory: LatestByStamp[int, StoredClientCertificate] | None = None) -> None:
        self._engine = engine
        self._box = box
        self._writers = asyncio.Lock()  # this process's writes, one at a time
        self._memory: LatestByStamp[int, StoredClientCertificate] = (
            LatestByStamp() if memory is None else memory)  # see usecases/memory.py

    async def load(self, known: Snapshot | None = None) -> StoredClientCertificate:
        """The stored certificate; from memory when `known` (a snapshot just read)
        carries the version remembered, which every save and removal moves."""
        if known is not None and known.client_certificate_version is not None:
            remembered = self._memory.get(known.client_certificate_version)
            if remembered is not None:
                return remembered
        async with self._engine.connect() as connection:
            stored = await self._load(connection)
        self._memory.put(stored.version, stored)
        return stored

    async def replace(self, certificate: ClientCertificate | None, *, actor: str,
                      expected_version: int | None = None,
                      on_write: OnClientCertificateWrite | None = None,
                      ) -> StoredClientCertificate:
        """Store or remove the certificate in one transaction with its audit record.

        The version row is read FOR UPDATE on PostgreSQL; on SQLite the transaction's
        write lock serialises writers (the version update is a compare-and-swap)."""
        async with self._writers, self._engine.begin() as connection:
            current = await self._load(connection, for_update=True)
            if expected_version is not None and current.version != expected_version:
                raise DomainError(
                    ErrorKind.PRECONDITION_FAILED,
                    "The client certificate changed since it was read (If-Match does not "
                    "match); GET it again and resend your change.")
            now = datetime.now(UTC)
            swapped = await connection.execute(
                update(client_certificate_version)
                .where(client_certificate_version.c.id == CLIENT_CERTIFICATE_ROW)
                .where(client_certificate_version.c.version == current.version)
                .values(version=current.version + 1))
            if swapped.rowcount != 1:
                raise DomainError(ErrorKind.PRECONDITION_FAILED,
                                  "The client certificate was changed by another writer; "
                                  "GET it again and resend your change.")
            await connection.execute(delete(client_certificate))
            if certificate is not None:
                await connection.execute(insert(client_certificate).values(
                    id=CLIENT_CERTIFICATE_ROW, chain_pem=certificate.chain_pem,
                    key_sealed=self._box.seal(certificate.key.reveal(), _KEY_CONTEXT),
                    host=certificate.destination.host, port=certificate.destination.port,
                    use_ssl=certificate.destination.use_ssl,
                    trust=certificate.trust.to_json(),
                    sasl_external=certificate.sasl_external,
                    not_after=certificate.facts.not_after,
                    updated_at=now, updated_by=actor))
            stored = StoredClientCertificate(certificate, current.version + 1,
                                             now if certificate else None,
                                             actor if certificate else None)
            if on_write is not None:
                await on_write(ConnectionTransaction(connection), current, stored)
        self._memory.put(stored.version, stored)
        return stored

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt the stored key under `new_box` (key rotation); 1 if one is stored."""
        async with self._engine.begin() as connection:
            row = (await connection.execute(
                select(client_certificate.c.key_sealed).with_for_update())).one_or_none()
            if row is None:
                return 0
            plain = self._box.open(row.key_sealed, _KEY_CONTEXT)
            await connection.execute(update(client_certificate).values(
                key_sealed=new_box.seal(plain, _KEY_CONTEXT)))
        return 1

    async def _load(self, connection: AsyncConnection, *,
                    for_update: bool = False) -> StoredClientCertificate:
        statement = select(client_certificate_version.c.version).where(
            client_certificate_version.c.id == CLIENT_CERTIFICATE_ROW)
        if for_update:
            statement = statement.with_for_update()
        version = (await connection.execute(statement)).scalar_one()
        row = (await connection.execute(select(client_certificate))).one_or_none()
        if row is None:
            return StoredClientCertificate(None, version)
        certificate = ClientCertificate(
            chain_pem=row.chain_pem,
            key=Secret(self._box.open(row.key_sealed, _KEY_CONTEXT)),
            destination=Destination(row.host, row.port, bool(row.use_ssl)),
            trust=TrustBinding.from_json(row.trust) or DEFAULT_TRUST,
            sasl_external=bool(row.sasl_external))
        return StoredClientCertificate(certificate, version, as_utc(row.updated_at),
                                       row.updated_by)
