"""Our extension GET /SMTP/Audit: its query parameters and its records, Keyfactor style.

Keyfactor pages its lists with the query parameters `pageReturned` (1-based) and
`returnLimit`; names are matched case-insensitively, as ASP.NET binds them. Unknown or
repeated parameters are refused rather than ignored, so a typo does not silently return
the wrong page. Records use Keyfactor's PascalCase and the error body's field names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smtp_profile.domain.audit import AuditQuery, AuditRecord, parse_time, validated_actions
from smtp_profile.domain.errors import DomainError, ErrorKind

DEFAULT_RETURN_LIMIT = 50
MAX_RETURN_LIMIT = 1000
MAX_PAGE = 1_000_000

PAGE_RETURNED = "pageReturned"
RETURN_LIMIT = "returnLimit"
ACTION = "action"
SINCE = "since"
UNTIL = "until"
_PARAMETERS = {name.lower(): name for name in (PAGE_RETURNED, RETURN_LIMIT, ACTION, SINCE,
                                               UNTIL)}


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=False, frozen=True, defer_build=True)


class FieldChangeOut(_Out):
    """One changed field. For a secret only the fact: Secret is true, Old and New null."""

    field: str = Field(alias="Field", examples=["Host"])
    old: str | int | bool | None = Field(alias="Old")
    new: str | int | bool | None = Field(alias="New")
    secret: bool = Field(alias="Secret")


class AuditRecordOut(_Out):
    """One audit record; Success false carries the ErrorCode and Message the caller got."""

    id: int = Field(alias="Id")
    timestamp: str = Field(alias="Timestamp", description="UTC, ISO 8601.",
                           examples=["2026-11-25T08:30:00.123456Z"])
    action: str = Field(alias="Action", examples=["Put", "Test", "FailedAuthentication"])
    user: str | None = Field(alias="User", description="As presented, for failed sign-ins.")
    client_address: str | None = Field(alias="ClientAddress")
    success: bool = Field(alias="Success")
    error_code: str | None = Field(alias="ErrorCode")
    message: str | None = Field(alias="Message")
    detail: str | None = Field(alias="Detail")
    profile_version: int | None = Field(
        alias="ProfileVersion", description="For a successful Put: the new ETag's version."
    )
    changes: list[FieldChangeOut] = Field(alias="Changes")


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_record(record: AuditRecord) -> dict[str, Any]:
    return AuditRecordOut(
        Id=record.id,
        Timestamp=timestamp(record.at),
        Action=record.action,
        User=record.user,
        ClientAddress=record.client,
        Success=record.outcome.success,
        ErrorCode=record.outcome.error_code,
        Message=record.outcome.message,
        Detail=record.detail,
        ProfileVersion=record.profile_version,
        Changes=[FieldChangeOut(Field=c.field, Old=c.old, New=c.new, Secret=c.secret)
                 for c in record.changes],
    ).model_dump(by_alias=True)


def _invalid(message: str) -> DomainError:
    return DomainError(ErrorKind.VALIDATION, message)


def _integer(name: str, values: list[str], default: int, maximum: int) -> int:
    if not values:
        return default
    text = values[0].strip()
    # At most as many ASCII digits as the maximum has: int() of thousands of digits is
    # refused by Python itself (its int-to-string limit) and of other scripts' digits
    # is a different number than the client may think.
    if (not (text.isascii() and text.isdecimal()) or len(text) > len(str(maximum))
            or not 1 <= int(text) <= maximum):
        raise _invalid(f"{name} must be a whole number from 1 to {maximum} "
                       f"(got {values[0][:20]!r})")
    return int(text)


def decode_query(pairs: Iterable[tuple[str, str]], *, now: datetime) -> AuditQuery:
    """The query string's (name, value) pairs -> an AuditQuery, or a 400 naming the problem."""
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        name = _PARAMETERS.get(key.lower())
        if name is None:
            known = ", ".join(_PARAMETERS.values())
            raise _invalid(f"Unknown query parameter {key[:40]!r}; known: {known}")
        values.setdefault(name, []).append(value)
    for name, given in values.items():
        if name != ACTION and len(given) > 1:
            raise _invalid(f"Query parameter {name} is given more than once")
    try:
        actions = validated_actions(values.get(ACTION, []))
        since = parse_time(values[SINCE][0], now=now, name=SINCE) if SINCE in values else None
        until = parse_time(values[UNTIL][0], now=now, name=UNTIL) if UNTIL in values else None
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    if since is not None and until is not None and since >= until:
        raise _invalid("since must be earlier than until")
    return AuditQuery(
        actions=actions,
        since=since,
        until=until,
        page=_integer(PAGE_RETURNED, values.get(PAGE_RETURNED, []), 1, MAX_PAGE),
        limit=_integer(RETURN_LIMIT, values.get(RETURN_LIMIT, []), DEFAULT_RETURN_LIMIT,
                       MAX_RETURN_LIMIT),
    )
