"""Version 1: flat strings. The password is write-only; a missing Port means 25.

Version 1 has no OAuth fields. Its drafts say so (`carries_oauth=False`), so the domain
keeps a type-3 profile's OAuth settings rather than reading their absence as "clear them".
"""

from __future__ import annotations

from typing import Any

from smtp_profile.domain.profile import DEFAULT_PORT, Profile, ProfileDraft
from smtp_profile.domain.secrets import Secret
from smtp_profile.wire.binding import bind
from smtp_profile.wire.models import ProfileV1In, ProfileV1Out, TestV1In, TestV1Out


def _draft(body: ProfileV1In) -> ProfileDraft:
    password = body.relay_password
    return ProfileDraft(
        profile_id=body.id,
        host=body.host,
        port=DEFAULT_PORT if body.port is None else body.port,
        auth_type=body.relay_authentication_type,
        username=body.relay_username or None,
        password=Secret(password) if password else None,
        sender_account=body.sender_account,
        sender_name=body.sender_name,
        use_ssl=body.use_ssl,
        carries_oauth=False,
    )


def decode_profile(data: dict[str, Any]) -> ProfileDraft:
    """A JSON or form body: form values are strings, read as strings in JSON are."""
    return _draft(bind(ProfileV1In, data))


def decode_test(data: dict[str, Any]) -> tuple[ProfileDraft, str | None]:
    body = bind(TestV1In, data)
    return _draft(body), body.test_recipient


def encode_profile(profile: Profile) -> dict[str, Any]:
    return ProfileV1Out(
        Host=profile.host,
        Id=profile.id,
        Port=profile.port,
        RelayAuthenticationType=int(profile.auth_type),
        RelayUsername=profile.username,
        SenderAccount=profile.sender_account,
        SenderName=profile.sender_name,
        UseSSL=profile.use_ssl,
    ).model_dump(by_alias=True)


def encode_test(profile: Profile, recipient: str) -> dict[str, Any]:
    """The profile as GET shows it, plus the recipient (in TestV1Out's key order)."""
    return TestV1Out(**encode_profile(profile), TestRecipient=recipient).model_dump(by_alias=True)
