"""The use cases both the HTTP API and the CLI share: read, replace and test the profile.

The domain decides (validation, secret reuse); this layer only sequences the store and the
mailer around it, records the outcome in the audit trail, and writes the log lines an
operator reads. Nothing here knows HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from smtp_profile.audit import AuditTrail
from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, Outcome, profile_changes
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile, check_recipient
from smtp_profile.domain.steps import TestMode, TestReport
from smtp_profile.mailer.conversation import Mailer
from smtp_profile.store.profiles import ProfileRepository, StoredProfile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TestOutcome:
    """What a test used and what it found; `profile` still holds the secret it used."""

    profile: Profile
    recipient: str
    report: TestReport


class ProfileService:
    def __init__(self, profiles: ProfileRepository, mailer: Mailer, audit: AuditTrail) -> None:
        self._profiles = profiles
        self._mailer = mailer
        self._audit = audit

    async def get(self) -> StoredProfile:
        return await self._profiles.load()

    async def replace(self, draft: ProfileDraft, *, actor: Actor,
                      expected_version: int | None = None) -> StoredProfile:
        """Validate and store `draft`; the audit record commits with the new profile.

        A refused PUT (invalid, stale If-Match, password to re-enter) is recorded too,
        with the error code and message the caller gets.
        """

        async def record(connection: AsyncConnection, old: StoredProfile,
                         new: StoredProfile) -> None:
            await self._audit.record_in(connection, self._audit.event(
                action=AuditAction.PUT, user=actor.name, client=actor.client,
                outcome=Outcome.ok(), changes=profile_changes(old.profile, new.profile),
                profile_version=new.version,
            ))

        try:
            stored = await self._profiles.replace(
                lambda current: build_profile(draft, current.profile),
                actor=actor.name, expected_version=expected_version, on_write=record,
            )
        except DomainError as error:
            await self._audit.record(action=AuditAction.PUT, user=actor.name,
                                     client=actor.client, outcome=Outcome.of_error(error))
            raise
        log.info("profile replaced by %s: host=%s port=%s auth=%s version=%s", actor,
                 stored.profile.host, stored.profile.port, int(stored.profile.auth_type),
                 stored.version)
        return stored

    async def test(self, draft: ProfileDraft, recipient: str | None, *, actor: Actor,
                   mode: TestMode = TestMode.SEND) -> TestOutcome:
        """Validate like a PUT (without storing), then talk to the relay.

        A stored password is only used when the destination in `draft` is the one it was
        saved for, so a test cannot carry it to another server.
        """
        try:
            stored = await self._profiles.load()
            profile = build_profile(draft, stored.profile)
            to = check_recipient(recipient)
        except DomainError as error:
            await self._audit.record(action=AuditAction.TEST, user=actor.name,
                                     client=actor.client, outcome=Outcome.of_error(error))
            raise
        report = await self._mailer.run(profile, to, mode=mode)
        failed = report.failed_step
        log.info("test %s by %s via %s:%s to %s: %s", report.test_id, actor, profile.host,
                 profile.port, to,
                 "ok" if report.success else f"failed at {failed.name.value if failed else '?'}")
        outcome = (Outcome.ok() if report.success
                   else Outcome.failed(ErrorKind.TEST_FAILED, report.failure_summary()))
        await self._audit.record(
            action=AuditAction.TEST, user=actor.name, client=actor.client, outcome=outcome,
            detail=f"test {report.test_id} via {profile.host}:{profile.port} to {to}",
        )
        return TestOutcome(profile, to, report)
