"""The service account key at rest: sealed (never the PEM in clear), readable fields kept,
re-sealed by rotate-key, and opened only with the key ring that sealed it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from smtp_profile.cli.keys import reseal_secrets
from smtp_profile.domain.relay_options import DEFAULT_TRUST
from smtp_profile.domain.service_account import RelayBinding, ServiceAccount, parse_key_file
from smtp_profile.runtime import prepare
from smtp_profile.store.database import create_engine_for
from smtp_profile.store.secret_box import SecretBox, SecretKeyError, load_keys, new_key
from smtp_profile.store.service_accounts import ServiceAccountRepository
from tests.support.database import raw_contents
from tests.support.google import GoogleDomain, GoogleTokenEndpoint, rsa_key
from tests.support.service import plain_settings


def test_the_private_key_is_sealed_and_resealed_by_rotate_key(tmp_path: Path) -> None:
    settings = plain_settings(tmp_path / "data")
    prepare(settings)
    endpoint = GoogleTokenEndpoint(GoogleDomain())
    try:
        key_file = endpoint.key_file(rsa_key(), "k1")
    finally:
        endpoint.close()
    key = parse_key_file(json.dumps(key_file))
    pem_body = "".join(key.private_key.reveal().splitlines()[1:-1])
    account = ServiceAccount(key, RelayBinding("smtp.gmail.com", 587, True), DEFAULT_TRUST)
    ring = load_keys(settings.data_dir, settings.secret_key, create=False)
    fresh = new_key()

    async def run() -> None:
        engine = create_engine_for(settings.resolved_database_url)
        try:
            store = ServiceAccountRepository(engine, SecretBox(ring))
            saved = await store.replace(account, actor="admin")
            assert saved.version == 2
            loaded = (await store.load()).account
            assert loaded is not None and loaded.key == key and loaded.relay == account.relay
            assert loaded.trust == DEFAULT_TRUST
            raw = raw_contents(settings).decode("utf-8", "replace")
            assert key.client_email in raw  # the search works: readable fields are there
            assert pem_body[:64] not in raw and pem_body[-64:] not in raw
            assert await reseal_secrets(engine, ring, fresh) == 1
            with pytest.raises(SecretKeyError):
                await store.load()  # the old key no longer opens it
            rotated = (await ServiceAccountRepository(engine, SecretBox([fresh])).load())
            assert rotated.account is not None
            assert rotated.account.key.private_key == key.private_key
            cleared = await ServiceAccountRepository(engine, SecretBox([fresh])).replace(
                None, actor="admin")
            assert cleared.account is None and cleared.version == 4
        finally:
            await engine.dispose()

    asyncio.run(run())
