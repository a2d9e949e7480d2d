"""The profile's rules, exhaustively and without I/O: validation and secret binding."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.profile import (
    AuthType,
    Profile,
    ProfileDraft,
    TlsMode,
    build_profile,
    check_recipient,
)
from smtp_profile.domain.secrets import Secret

SEED = Profile()
BASIC = ProfileDraft(host="mail.test", port=587, auth_type=2, username="svc",
                     password=Secret("pw-1"), sender_account="svc@corp.local",
                     sender_name="KF", use_ssl=True)


def stored_basic() -> Profile:
    return build_profile(BASIC, SEED)


def test_a_valid_basic_draft_becomes_a_profile() -> None:
    profile = stored_basic()
    assert profile.auth_type is AuthType.BASIC
    assert profile.password == Secret("pw-1")
    assert profile.tls_mode() is TlsMode.STARTTLS


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_profile(ProfileDraft(port=0, auth_type=2), SEED)
    assert caught.value.problems == [
        "Host is required",
        "Port must be between 1 and 65535 (got 0)",
        "SenderAccount is required",
        "SenderName is required",
        "RelayUsername is required",
    ]


def test_absent_password_is_reused_for_the_same_destination() -> None:
    profile = build_profile(replace(BASIC, password=None, sender_name="Other"), stored_basic())
    assert profile.password == Secret("pw-1")
    assert profile.sender_name == "Other"


@pytest.mark.parametrize(("change", "field"), [
    ({"host": "other.test"}, "Host"),
    ({"port": 465}, "Port"),
    ({"use_ssl": False}, "UseSSL"),
    ({"username": "svc2"}, "RelayUsername"),
])
def test_destination_change_requires_the_password(change: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as caught:
        build_profile(replace(BASIC, password=None, **change), stored_basic())
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    assert field in caught.value.message


def test_several_changed_fields_are_all_named() -> None:
    with pytest.raises(DomainError) as caught:
        build_profile(replace(BASIC, password=None, host="x.test", port=25), stored_basic())
    assert "Host and Port changed" in caught.value.message


def test_a_new_password_may_go_anywhere() -> None:
    profile = build_profile(replace(BASIC, host="x.test", password=Secret("pw-2")),
                            stored_basic())
    assert profile.password == Secret("pw-2")


def test_anonymous_drops_credentials_even_if_sent() -> None:
    profile = build_profile(replace(BASIC, auth_type=0), stored_basic())
    assert profile.username is None and profile.password is None


def test_password_of_an_anonymous_profile_is_never_reused() -> None:
    anonymous = build_profile(replace(BASIC, auth_type=0), SEED)
    with pytest.raises(ValidationFailed):
        build_profile(replace(BASIC, password=None), anonymous)


@pytest.mark.parametrize("auth_type", [1, 4])
def test_unsupported_auth_types(auth_type: int) -> None:
    with pytest.raises(DomainError) as caught:
        build_profile(replace(BASIC, auth_type=auth_type), SEED)
    assert caught.value.kind is ErrorKind.UNSUPPORTED_AUTH_TYPE


def test_tls_modes() -> None:
    assert replace(SEED, use_ssl=False, port=465).tls_mode() is TlsMode.NONE
    assert replace(SEED, use_ssl=True, port=465).tls_mode() is TlsMode.IMPLICIT
    assert replace(SEED, use_ssl=True, port=2465).tls_mode(frozenset({2465})) is TlsMode.IMPLICIT
    assert replace(SEED, use_ssl=True, port=25).tls_mode() is TlsMode.STARTTLS


def test_recipient() -> None:
    assert check_recipient("a@corp.local") == "a@corp.local"
    for bad in (None, "", "nope", "a@b\r\nX: y"):
        with pytest.raises(ValidationFailed):
            check_recipient(bad)


def test_secrets_do_not_print() -> None:
    secret = Secret("hunter2-canary")
    profile = stored_basic()
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr(profile),
                 repr(BASIC)):
        assert "hunter2-canary" not in text and "pw-1" not in text
