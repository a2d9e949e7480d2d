"""PAM providers and references in the database (SQLite, and PostgreSQL when the suite
runs on it): sealed secrets, names, the in-use rule, references, key rotation."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.pam import PamProvider
from smtp_profile.domain.profile import AuthType, Profile
from smtp_profile.domain.secret_reference import SecretReference
from smtp_profile.domain.secrets import Secret
from smtp_profile.runtime import prepare
from smtp_profile.store.database import create_engine_for
from smtp_profile.store.pam_providers import PamProviderRepository
from smtp_profile.store.profiles import ProfileRepository
from smtp_profile.store.secret_box import SecretBox, load_keys, new_key
from tests.support.database import raw_contents
from tests.support.service import plain_settings

TOKEN = "Canary-StoredPamToken-19ab77"


def test_providers_and_references_round_trip_sealed(tmp_path: Path) -> None:
    settings = plain_settings(tmp_path / "data")
    prepare(settings)
    box = SecretBox(load_keys(settings.data_dir, settings.secret_key, create=False))

    async def scenario() -> None:
        engine = create_engine_for(settings.resolved_database_url)
        providers = PamProviderRepository(engine, box)
        profiles = ProfileRepository(engine, box)
        try:
            draft = PamProvider(0, "Vault One", "Test-Files",
                                settings=(("Directory", "/srv/secrets"),),
                                secrets=(("Token", Secret(TOKEN)),))
            created = await providers.create(draft, actor="alice")
            assert created.id > 0 and created.version == 1 and created.updated_by == "alice"
            assert created.secrets[0][1].reveal() == TOKEN
            with pytest.raises(DomainError) as taken:
                await providers.create(replace(draft, name="vault one"), actor="alice")
            assert taken.value.kind is ErrorKind.PAM_PROVIDER_NAME_TAKEN
            other = await providers.create(replace(draft, name="Other"), actor="alice")

            changed = await providers.update(
                created.id, lambda current: replace(current, name="Vault 1"), actor="bob")
            assert (changed.name, changed.version, changed.updated_by) == ("Vault 1", 2, "bob")
            assert changed.secrets == created.secrets
            assert [p.name for p in await providers.list()] == ["Vault 1", "Other"]
            with pytest.raises(DomainError) as missing:
                await providers.update(999, lambda c: c, actor="bob")
            assert missing.value.kind is ErrorKind.PAM_PROVIDER_NOT_FOUND

            reference = SecretReference.of(created.id, {"File": "smtp-password"})
            profile = Profile(host="mail.test", port=587, auth_type=AuthType.BASIC,
                              username="svc", sender_account="svc@corp.local",
                              sender_name="KF", password_ref=reference)
            with pytest.raises(DomainError) as unknown:
                await profiles.replace(lambda _: replace(
                    profile, password_ref=SecretReference.of(999, {"File": "x"})),
                    actor="alice")
            assert "No PAM provider has the Id 999" in unknown.value.message
            await profiles.replace(lambda _: profile, actor="alice")
            loaded = (await ProfileRepository(engine, box).load()).profile
            assert loaded.password_ref == reference and loaded.password is None

            with pytest.raises(DomainError) as in_use:
                await providers.delete(created.id)
            assert in_use.value.kind is ErrorKind.PAM_PROVIDER_IN_USE
            assert "RelayPassword" in in_use.value.message
            await providers.delete(other.id)
            assert [p.id for p in await providers.list()] == [created.id]

            fresh = SecretBox([new_key()])
            assert await providers.reseal(fresh) == 1
            reopened = await PamProviderRepository(engine, fresh).get(created.id)
            assert reopened is not None and reopened.secrets[0][1].reveal() == TOKEN
        finally:
            await engine.dispose()

    asyncio.run(scenario())
    assert TOKEN.encode() not in raw_contents(settings)
