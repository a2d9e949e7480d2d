"""The OAuth credential row on the run's database (SQLite, or PostgreSQL with
SMTP_PROFILE_TEST_DATABASE): migration 0014, the key sealed, the version a
compare-and-swap, and `rotate-key` re-sealing the key."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from smtp_profile.cli.keys import reseal_secrets
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.oauth_credential import (
    CertificateUpload,
    CredentialBinding,
    OAuthCredentials,
    parse_certificate,
)
from smtp_profile.domain.secrets import Secret
from smtp_profile.runtime import prepare
from smtp_profile.store.database import create_engine_for
from smtp_profile.store.oauth_credential import OAuthCredentialRepository
from smtp_profile.store.secret_box import SecretBox, SecretKeyError, load_keys, new_key
from tests.support.assertion_endpoint import make_certificate
from tests.support.database import raw_contents
from tests.support.service import service_settings


def test_the_key_is_stored_sealed_versioned_and_resealed_by_rotate_key(tmp_path: Path) -> None:
    settings = service_settings(tmp_path / "data")
    prepare(settings)
    cert = make_certificate(kind="ec")
    credential = parse_certificate(
        CertificateUpload(certificate_pem=cert.cert_pem, private_key_pem=Secret(cert.key_pem)),
        CredentialBinding("https://login.example.com/t/oauth2/v2.0/token", "client-1",
                          "smtp.example.com", 587, True), datetime.now(UTC))
    wanted = OAuthCredentials(credential, date(2027, 6, 30))
    fresh = new_key()

    async def run() -> None:
        engine = create_engine_for(settings.resolved_database_url)
        keys = load_keys(settings.data_dir, settings.secret_key, create=False)
        try:
            repository = OAuthCredentialRepository(engine, SecretBox(keys))
            empty = await repository.load()
            assert (empty.version, empty.credentials) == (1, OAuthCredentials())
            saved = await repository.replace(lambda _: wanted, actor="t", expected_version=1)
            assert saved.version == 2
            with pytest.raises(DomainError) as stale:
                await repository.replace(lambda _: OAuthCredentials(), actor="t",
                                         expected_version=1)
            assert stale.value.kind is ErrorKind.PRECONDITION_FAILED
            assert (await repository.load()).credentials == wanted
            assert await reseal_secrets(engine, keys, fresh) == 1
            reopened = await OAuthCredentialRepository(engine, SecretBox([fresh])).load()
            assert reopened.credentials == wanted
            with pytest.raises(SecretKeyError):
                await OAuthCredentialRepository(engine, SecretBox([new_key()])).load()
        finally:
            await engine.dispose()

    asyncio.run(run())
    database = raw_contents(settings).decode("utf-8", "replace")
    key_lines = [line for line in cert.key_pem.splitlines() if "-----" not in line]
    assert credential.thumbprint not in database  # (not stored: derived from the cert)
    assert all(line not in database for line in key_lines)
    assert cert.cert_pem.splitlines()[1] in database  # the search works: the cert is there
