"""The client certificate row on both databases: the key sealed only, the version a
compare-and-swap for If-Match, and `rotate-key`'s re-seal."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from smtp_profile.domain.client_certificate import (
    ClientCertificateInput,
    Destination,
    build_client_certificate,
)
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.relay_options import RelayOptions, TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.settings import async_url
from smtp_profile.store.client_certificates import ClientCertificateRepository
from smtp_profile.store.database import create_engine_for, migrate
from smtp_profile.store.secret_box import SecretBox, new_key
from smtp_profile.store.tables import client_certificate
from tests.store.test_oauth_storage import database_url  # noqa: F401  (the fixture)
from tests.support.client_certs import ClientIdentity


def test_sealed_versioned_and_resealed(database_url: str) -> None:  # noqa: F811
    migrate(database_url)
    identity = ClientIdentity()
    trust = TrustBinding.of(RelayOptions(pinned_sha256="ab" * 32))
    certificate = build_client_certificate(ClientCertificateInput(
        certificate_pem=identity.certificate_pem, private_key_pem=Secret(identity.key_pem()),
        sasl_external=True), Destination("mail.test", 465, True), trust)
    old, fresh = new_key(), new_key()

    async def run() -> None:
        engine = create_engine_for(async_url(database_url))
        try:
            store = ClientCertificateRepository(engine, SecretBox([old]))
            assert (await store.load()).certificate is None
            stored = await store.replace(certificate, actor="admin", expected_version=0)
            assert stored.version == 1
            with pytest.raises(DomainError) as stale:
                await store.replace(None, actor="admin", expected_version=0)
            assert stale.value.kind is ErrorKind.PRECONDITION_FAILED
            loaded = (await store.load()).certificate
            assert loaded is not None and loaded.trust == trust and loaded.sasl_external
            assert loaded.key.reveal() == certificate.key.reveal()
            assert loaded.destination == Destination("mail.test", 465, True)
            async with engine.connect() as connection:
                sealed = (await connection.execute(
                    select(client_certificate.c.key_sealed))).scalar_one()
            assert b"PRIVATE KEY" not in bytes(sealed)

            assert await store.reseal(SecretBox([fresh])) == 1
            store = ClientCertificateRepository(engine, SecretBox([fresh]))
            reopened = (await store.load()).certificate
            assert reopened is not None
            assert reopened.key.reveal() == certificate.key.reveal()
            removed = await store.replace(None, actor="admin", expected_version=1)
            assert removed.version == 2 and (await store.load()).certificate is None
        finally:
            await engine.dispose()

    asyncio.run(run())
