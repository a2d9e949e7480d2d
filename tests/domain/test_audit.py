"""The audit vocabulary: changed fields (secrets only as changed), actions, times."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from smtp_profile.domain.audit import (
    AuditAction,
    FieldChange,
    Outcome,
    clip,
    parse_action,
    parse_time,
    profile_changes,
    retention_cutoff,
    validated_actions,
)
from smtp_profile.domain.errors import ErrorKind
from smtp_profile.domain.profile import AuthType, Profile, RequestHeader
from smtp_profile.domain.secrets import Secret

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BASE = Profile(host="mail.test", port=587, auth_type=AuthType.BASIC, username="svc",
               password=Secret("old-Secret-1"), sender_account="a@corp.local",
               sender_name="KF", use_ssl=True)


def test_no_changes_between_equal_profiles() -> None:
    assert profile_changes(BASE, replace(BASE, password=Secret("old-Secret-1"))) == ()


def test_plain_fields_report_old_and_new_values_in_keyfactor_names() -> None:
    new = replace(BASE, host="relay.test", port=25, use_ssl=False, auth_type=AuthType.ANONYMOUS)
    changes = profile_changes(BASE, new)
    assert changes[:4] == (
        FieldChange("Host", "mail.test", "relay.test"),
        FieldChange("Port", 587, 25),
        FieldChange("UseSSL", True, False),
        FieldChange("RelayAuthenticationType", 2, 0),
    )
    assert type(changes[3].old) is int  # not the IntEnum: stored as JSON


@pytest.mark.parametrize("new_password", [Secret("new-Secret-2"), None])
def test_a_secret_is_reported_only_as_changed(new_password: Secret | None) -> None:
    changes = profile_changes(BASE, replace(BASE, password=new_password))
    assert changes == (FieldChange("RelayPassword", None, None, secret=True),)
    assert "Secret-" not in repr(changes)


def test_request_headers_are_treated_as_secret() -> None:
    new = replace(BASE, request_headers=(RequestHeader("Authorization", "Bearer x"),))
    (change,) = profile_changes(BASE, new)
    assert change == FieldChange.secret_changed("RequestHeaders")
    assert "Bearer" not in repr(change)


def test_actions_parse_case_insensitively_and_unknown_ones_are_named() -> None:
    assert parse_action("put") is AuditAction.PUT
    assert parse_action(" FAILEDAUTHENTICATION ") is AuditAction.FAILED_AUTHENTICATION
    assert validated_actions(["Put,test", ""]) == {AuditAction.PUT, AuditAction.TEST}
    with pytest.raises(ValueError, match="known: Put, Test, FailedAuthentication"):
        parse_action("Delete")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ("2026-11-20T08:30:00Z", datetime(2026, 11, 20, 8, 30, tzinfo=UTC)),
    ("2026-11-20T10:30:00+02:00", datetime(2026, 11, 20, 8, 30, tzinfo=UTC)),
    ("30m", NOW - timedelta(minutes=30)),
    ("24h", NOW - timedelta(days=1)),
    ("7D", NOW - timedelta(days=7)),
    ("2w", NOW - timedelta(days=14)),
])
def test_times_are_iso_8601_or_ages(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW, name="since") == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-1d", "2026-13-01", ""])
def test_bad_times_are_refused_with_the_parameter_name(text: str) -> None:
    with pytest.raises(ValueError, match=r"^since .* is not a time"):
        parse_time(text, now=NOW, name="since")


def test_retention_cutoff() -> None:
    assert retention_cutoff(NOW, 30) == NOW - timedelta(days=30)
    assert retention_cutoff(NOW, 0) is None


def test_outcomes_keep_code_and_a_clean_bounded_message() -> None:
    outcome = Outcome.failed(ErrorKind.VALIDATION, "Host is required\r\n" + "x" * 5000)
    assert outcome.error_code == "0xA0110001" and not outcome.success
    assert outcome.message is not None and len(outcome.message) == 2000
    assert "\r" not in outcome.message and "\n" not in outcome.message
    assert clip("short", 10) == "short"
