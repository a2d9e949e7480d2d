"""The use cases both the HTTP API and the CLI share: read, replace and test the profile.

The domain decides (validation, secret reuse); this layer only sequences the store and the
mailer around it, and writes the log lines an operator reads. Nothing here knows HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from smtp_profile.domain.profile import (
    Profile,
    ProfileDraft,
    build_profile,
    build_replacement,
    check_recipient,
)
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
    def __init__(self, profiles: ProfileRepository, mailer: Mailer) -> None:
        self._profiles = profiles
        self._mailer = mailer

    async def get(self) -> StoredProfile:
        return await self._profiles.load()

    async def replace(self, draft: ProfileDraft, *, actor: str,
                      expected_version: int | None = None) -> StoredProfile:
        stored = await self._profiles.replace(
            lambda current: build_replacement(draft, current.profile),
            actor=actor, expected_version=expected_version,
        )
        log.info("profile replaced by %s: host=%s port=%s auth=%s version=%s", actor,
                 stored.profile.host, stored.profile.port, int(stored.profile.auth_type),
                 stored.version)
        return stored

    async def test(self, draft: ProfileDraft, recipient: str | None, *, actor: str,
                   mode: TestMode = TestMode.SEND) -> TestOutcome:
        """Validate like a PUT (without storing), then talk to the relay.

        A stored password is only used when the destination in `draft` is the one it was
        saved for, so a test cannot carry it to another server.
        """
        stored = await self._profiles.load()
        profile = build_profile(draft, stored.profile)
        to = check_recipient(recipient)
        report = await self._mailer.run(profile, to, mode=mode)
        failed = report.failed_step
        log.info("test %s by %s via %s:%s to %s: %s", report.test_id, actor, profile.host,
                 profile.port, to,
                 "ok" if report.success else f"failed at {failed.name.value if failed else '?'}")
        return TestOutcome(profile, to, report)
