"""The audit trail's vocabulary: who did what, from where, with which outcome and changes.

Pure: no clock, no I/O. The store adds the time and an id; callers (the service, the
HTTP adapter, later features) describe events with these types through one port,
`AuditTrail.record`. Secret fields are compared but only ever reported as changed: a
`FieldChange` for a secret carries no value, old or new, so no code path can put one in a
record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeAlias

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.profile import Profile

MAX_MESSAGE_LENGTH = 2000
MAX_USER_LENGTH = 128
MAX_CLIENT_LENGTH = 64
MAX_DETAIL_LENGTH = 500

PlainValue: TypeAlias = str | int | bool | None


class AuditAction(StrEnum):
    """What happened. Adding an action is adding a member here (and a line in the docs)."""

    PUT = "Put"  # the profile was replaced (or a replacement was refused)
    TEST = "Test"  # a test e-mail was attempted
    FAILED_AUTHENTICATION = "FailedAuthentication"  # credentials were presented and refused
    DIAGNOSE = "Diagnose"  # a step-by-step diagnosis was run (or refused)
    OPTIONS = "Options"  # the relay's trust or AUTH mechanism options were replaced
    # the OAuth certificate credential or the client secret's recorded expiry changed
    OAUTH_CREDENTIAL = "OAuthCredential"
    # the Google service account key was uploaded or deleted (or that was refused)
    SERVICE_ACCOUNT = "ServiceAccount"
    PAM_PROVIDER_CREATE = "PamProviderCreate"  # a PAM provider was added (or refused)
    PAM_PROVIDER_UPDATE = "PamProviderUpdate"  # a PAM provider was changed (or refused)
    PAM_PROVIDER_DELETE = "PamProviderDelete"  # a PAM provider was removed (or refused)
    # refused sign-ins from one address in one minute beyond the few recorded one by one
    FAILED_AUTHENTICATION_SUMMARY = "FailedAuthenticationSummary"
    # the relay client certificate was set or removed (or a change was refused)
    CLIENT_CERTIFICATE = "ClientCertificate"


def parse_action(text: str) -> AuditAction:
    """An action by its name, case-insensitively; ValueError names the known ones."""
    for action in AuditAction:
        if action.value.lower() == text.strip().lower():
            return action
    known = ", ".join(a.value for a in AuditAction)
    raise ValueError(f"unknown audit action {text[:40]!r}; known: {known}")


@dataclass(frozen=True)
class Outcome:
    """Success, or the error code and message the caller was given."""

    success: bool
    error_code: str | None = None
    message: str | None = None

    @classmethod
    def ok(cls) -> Outcome:
        return cls(True)

    @classmethod
    def failed(cls, kind: ErrorKind, message: str) -> Outcome:
        return cls(False, kind.code, clip(message, MAX_MESSAGE_LENGTH))

    @classmethod
    def of_error(cls, error: DomainError) -> Outcome:
        return cls.failed(error.kind, error.message)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs; for a secret only the fact, never a value."""

    field: str
    old: PlainValue = None
    new: PlainValue = None
    secret: bool = False

    @classmethod
    def secret_changed(cls, name: str) -> FieldChange:
        return cls(name, secret=True)


@dataclass(frozen=True)
class AuditEvent:
    """What a caller asks to record; the store adds the time it is written."""

    action: AuditAction
    user: str | None
    client: str | None
    outcome: Outcome
    changes: tuple[FieldChange, ...] = ()
    detail: str | None = None
    profile_version: int | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One stored record. `action` stays a string: a newer instance may write actions
    this one does not know, and reading them must not fail."""

    id: int
    at: datetime
    action: str
    user: str | None
    client: str | None
    outcome: Outcome
    changes: tuple[FieldChange, ...]
    detail: str | None
    profile_version: int | None


@dataclass(frozen=True)
class AuditQuery:
    """Which records to list: newest first, `limit` per page, page 1 first."""

    actions: frozenset[AuditAction] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    limit: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord] = field(default_factory=list)
    total: int = 0


# Profile fields in the order a reader expects them, with their Keyfactor names. Secrets
# are compared but reported only as changed. RequestHeaders may carry credentials for an
# OAuth token endpoint, so they are treated as a secret too.
_PLAIN_FIELDS = (
    ("host", "Host"),
    ("port", "Port"),
    ("use_ssl", "UseSSL"),
    ("auth_type", "RelayAuthenticationType"),
    ("username", "RelayUsername"),
    ("sender_account", "SenderAccount"),
    ("sender_name", "SenderName"),
    ("client_id", "ClientId"),
    ("token_endpoint", "TokenEndpoint"),
    ("scope", "Scope"),
    ("audience", "Audience"),
)
_SECRET_FIELDS = (
    ("password", "RelayPassword"),
    ("client_secret", "ClientSecret"),
    ("request_headers", "RequestHeaders"),
)


def profile_changes(old: Profile, new: Profile) -> tuple[FieldChange, ...]:
    """The fields that differ between two profiles, secrets only as changed."""
    changes: list[FieldChange] = []
    for attribute, name in _PLAIN_FIELDS:
        before, after = _plain(getattr(old, attribute)), _plain(getattr(new, attribute))
        if before != after:
            changes.append(FieldChange(name, before, after))
    for attribute, name in _SECRET_FIELDS:
        reference = _REFERENCES.get(attribute)
        if reference is not None and (getattr(old, reference) is not None
                                      or getattr(new, reference) is not None):
            if (getattr(old, attribute), getattr(old, reference)) != (
                    getattr(new, attribute), getattr(new, reference)):
                changes.append(FieldChange(name, _source(old, attribute, reference),
                                           _source(new, attribute, reference)))
        elif getattr(old, attribute) != getattr(new, attribute):
            changes.append(FieldChange.secret_changed(name))
    for attribute, name in (("username_ref", "RelayUsername"), ("client_id_ref", "ClientId")):
        if getattr(old, attribute) != getattr(new, attribute):
            changes.append(FieldChange(f"{name}.Reference", _reference(old, attribute),
                                       _reference(new, attribute)))
    if new.secret_trust is not None and old.secret_trust != new.secret_trust:
        # A secret entered again (even the same one) is bound to the trust now in force.
        changes.append(FieldChange("SecretTrust", _trust(old), new.secret_trust.mode.value))
    return tuple(changes)


_REFERENCES = {"password": "password_ref", "client_secret": "client_secret_ref"}


def _reference(profile: Profile, attribute: str) -> str | None:
    """Where a referenced credential comes from, never a value: provider and parameters."""
    reference = getattr(profile, attribute)
    if reference is None:
        return None
    parameters = ", ".join(f"{k}={v}" for k, v in reference.parameters)
    return clip(f"PAM provider {reference.provider_id} ({parameters})", 200)


def _source(profile: Profile, attribute: str, reference: str) -> str | None:
    if getattr(profile, reference) is not None:
        return _reference(profile, reference)
    return "stored" if getattr(profile, attribute) is not None else None


def _trust(profile: Profile) -> str | None:
    return None if profile.secret_trust is None else profile.secret_trust.mode.value


def _plain(value: object) -> PlainValue:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):  # also AuthType, an IntEnum
        return int(value)
    raise TypeError(f"not a plain profile value: {type(value).__name__}")


def clip(text: str, limit: int) -> str:
    """`text` without control characters, at most `limit` characters."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def clip_optional(text: str | None, limit: int) -> str | None:
    return None if text is None else clip(text, limit)


_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, *, now: datetime, name: str) -> datetime:
    """A point in time: ISO 8601 (a date, or a date and time; UTC unless it names an
    offset) or an age like `30m`, `24h`, `7d`, `2w` counted back from `now`."""
    value = text.strip()
    match = _RELATIVE.match(value)
    try:
        if match:
            return now - timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2].lower()])
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"{name} {text[:40]!r} is not a time: use ISO 8601 (2026-11-25 or "
                "2026-11-25T08:00:00Z) or an age such as 30m, 24h, 7d"
            ) from None
        return as_utc(parsed)
    except OverflowError:
        # An age reaching back before year 1, or an offset pushing a time past either end
        # of the calendar: the client's mistake, not the service's.
        raise ValueError(
            f"{name} {text[:40]!r} is out of range: times run from year 1 to year 9999 (UTC)"
        ) from None


RECORDED_REFUSALS_PER_MINUTE = 5
"""Refused sign-ins recorded one by one per client address and minute; the rest are
counted and summed up in one FailedAuthenticationSummary record when the minute ends,
so a flood of bad credentials cannot fill the audit trail."""


def refusal_window(now: datetime) -> datetime:
    """The start of the minute (UTC) a refusal at `now` is counted in."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def refusal_summary(client: str, window_start: datetime, count: int) -> AuditEvent | None:
    """The one record for `count` refusals from `client` in a minute: None when each
    was recorded one by one already."""
    unrecorded = count - RECORDED_REFUSALS_PER_MINUTE
    if unrecorded <= 0:
        return None
    start = window_start.astimezone(UTC)
    return AuditEvent(
        action=AuditAction.FAILED_AUTHENTICATION_SUMMARY, user=None,
        client=clip(client, MAX_CLIENT_LENGTH),
        outcome=Outcome(False, None,
                        f"{unrecorded} more refused sign-ins from {clip(client, 64)} in the "
                        f"minute from {start.strftime('%Y-%m-%dT%H:%M:%SZ')}, not recorded "
                        "one by one"),
        detail=f"count={unrecorded}",
    )


def retention_cutoff(now: datetime, days: int) -> datetime | None:
    """Records older than this are pruned; None when retention is off (0 days)."""
    return None if days <= 0 else now - timedelta(days=days)


def validated_actions(texts: Iterable[str]) -> frozenset[AuditAction]:
    """Actions named in a filter; each text may list several, comma-separated."""
    return frozenset(parse_action(part) for text in texts for part in text.split(",")
                     if part.strip())
