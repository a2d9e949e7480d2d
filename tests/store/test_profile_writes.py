"""A PUT's write over the profile its request's snapshot named (`known`), when the stored
profile is no longer that one: another instance wrote after the snapshot was read. The
compare-and-swap finds the newer row, writes nothing (not the audit record queued for
it either), and the write starts over on the row read and locked; If-Match is judged on
that row, never on this instance's memory. SQLite (the writer thread) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smtp_profile.domain.audit import AuditAction, AuditQuery, Outcome, profile_changes
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.profile import AuthType, Profile
from smtp_profile.domain.stored import StoredProfile
from smtp_profile.runtime import prepare
from smtp_profile.store.audit import AuditRepository
from smtp_profile.store.database import create_engine_for
from smtp_profile.store.profiles import ProfileRepository
from smtp_profile.store.secret_box import SecretBox, load_keys
from smtp_profile.store.sqlite_writer import writer_for
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.ports import OnProfileWrite, Transaction
from tests.support.service import plain_settings

PROFILE = Profile(host="relay.corp.local", port=587, auth_type=AuthType.ANONYMOUS,
                  sender_account="pki@corp.local", sender_name="PKI")


@dataclass
class Instance:
    """One instance's profile store and audit trail (its own memory) on the database."""

    profiles: ProfileRepository
    audit: AuditTrail
    built_over: list[int]

    def build(self, name: str) -> tuple[Callable[[StoredProfile], Profile], OnProfileWrite]:
        def build(current: StoredProfile) -> Profile:
            self.built_over.append(current.version)
            return replace(PROFILE, sender_name=name)

        async def record(transaction: Transaction, old: StoredProfile,
                         new: StoredProfile) -> None:
            await self.audit.record_in(transaction, self.audit.event(
                action=AuditAction.PUT, user="alice", client="127.0.0.1",
                outcome=Outcome.ok(), changes=profile_changes(old.profile, new.profile),
                profile_version=new.version))

        return build, record


@asynccontextmanager
async def two_instances(tmp_path: Path) -> AsyncIterator[tuple[Instance, Instance]]:
    settings = plain_settings(tmp_path / "data")
    prepare(settings)
    box = SecretBox(load_keys(settings.data_dir, settings.secret_key, create=False))
    url = settings.resolved_database_url
    engine = create_engine_for(url)
    writers = [writer_for(url), writer_for(url)]
    try:
        yield tuple(  # type: ignore[misc]
            Instance(ProfileRepository(engine, box, writer=writer),
                     AuditTrail(AuditRepository(engine, writer), retention_days=0), [])
            for writer in writers)
    finally:
        for writer in writers:
            if writer is not None:
                writer.close()
        await engine.dispose()


async def put(instance: Instance, name: str, *, known: StoredProfile | None,
              expected_version: int | None = None) -> StoredProfile:
    build, record = instance.build(name)
    return await instance.profiles.replace(
        build, actor="alice", expected_version=expected_version, on_write=record,
        known=None if known is None else known.stamp)


async def put_records(instance: Instance) -> list[tuple[int | None, list[object]]]:
    page = await instance.audit.list(AuditQuery(actions=frozenset({AuditAction.PUT}),
                                                since=datetime(2000, 1, 1, tzinfo=UTC)))
    return [(r.profile_version, [(c.field, c.old, c.new) for c in r.changes])
            for r in reversed(page.records)]


def test_a_write_over_a_profile_changed_meanwhile_lands_on_the_newer_one(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        async with two_instances(tmp_path) as (first, second):
            seen = await put(first, "First", known=None)  # both remember it
            assert (await second.profiles.load()).stamp == seen.stamp
            newer = await put(second, "Second", known=seen)
            assert newer.version == seen.version + 1
            # `first` still remembers `seen`, and its request's snapshot said so too.
            first.built_over.clear()
            third = await put(first, "Third", known=seen)
            assert first.built_over == [seen.version, newer.version]
            assert third.version == newer.version + 1
            assert (await second.profiles.load()).profile.sender_name == "Third"
            records = await put_records(first)
            # One record per write that landed; the lost attempt's record went nowhere.
            assert [v for v, _ in records] == [seen.version, newer.version, third.version]
            assert records[-1][1] == [("SenderName", "Second", "Third")]

    asyncio.run(scenario())


def test_if_match_is_judged_on_the_stored_row_not_on_memory(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with two_instances(tmp_path) as (first, second):
            seen = await put(first, "First", known=None)
            newer = await put(second, "Second", known=seen)
            with pytest.raises(DomainError) as stale:  # memory agrees, the row does not
                await put(first, "Third", known=seen, expected_version=seen.version)
            assert stale.value.kind is ErrorKind.PRECONDITION_FAILED
            assert (await second.profiles.load()).stamp == newer.stamp
            # The same instance, the If-Match of the row now stored: accepted, though
            # this instance's memory and its request's snapshot named the older one.
            assert first.profiles.remembered(seen.stamp) is not None
            third = await put(first, "Third", known=seen, expected_version=newer.version)
            assert third.version == newer.version + 1
            assert [v for v, _ in await put_records(first)] == [
                seen.version, newer.version, third.version]

    asyncio.run(scenario())
