"""The pure rules behind the provider work: reading an access token's claims, judging
them for Microsoft's relays, and Microsoft's Basic-auth dates on either side of them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from smtp_profile.domain.access_token import findings, read_claims
from smtp_profile.domain.deadlines import deadline_warnings
from smtp_profile.domain.warnings import Severity
from smtp_profile.mailer.catalogue import catalogue

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def jwt_with(payload: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{body}.c2ln"


@pytest.mark.parametrize("token", [
    "opaque-token", "a.b", "a.b.c.d", "x.!!!.y", f"x.{base64.b64encode(b'[1]').decode()}.y",
    "x." + base64.urlsafe_b64encode(b"\xff\xfe").decode() + ".y", "x." + "A" * 20000 + ".y"])
def test_what_is_not_a_readable_jwt_is_opaque(token: str) -> None:
    assert read_claims(token).opaque
    assert read_claims(token).details() == {"format": "opaque"}


def test_claims_in_their_several_shapes() -> None:
    claims = read_claims(jwt_with({"aud": ["https://outlook.office365.com", 7], "azp": "app",
                                   "scp": "SMTP.Send Mail.Read", "exp": "soon",
                                   "tid": ""}))
    assert claims.audience == ("https://outlook.office365.com",)
    assert claims.app_id == "app" and claims.tenant is None
    assert claims.scopes == ("SMTP.Send", "Mail.Read") and claims.expires_at is None


def test_a_delegated_smtp_send_scope_is_enough_for_microsoft() -> None:
    microsoft = catalogue().providers["microsoft"]
    claims = read_claims(jwt_with({"aud": "https://outlook.office365.com",
                                   "scp": "SMTP.Send"}))
    assert findings(claims, microsoft, now=NOW, needed_seconds=30) == []


def test_an_opaque_token_is_judged_only_by_its_expires_in() -> None:
    microsoft = catalogue().providers["microsoft"]
    opaque = read_claims("opaque")
    assert findings(opaque, microsoft, now=NOW, needed_seconds=30, expires_in=3600) == []
    [expiring] = findings(opaque, microsoft, now=NOW, needed_seconds=30, expires_in=10)
    assert expiring.startswith("the access token expires in 10 s")


@pytest.mark.parametrize(("today", "severity", "days"), [
    (date(2026, 12, 2), Severity.WARNING, "29 days left"),
    (date(2026, 12, 30), Severity.WARNING, "1 day left"),
    (date(2026, 12, 31), Severity.WARNING, "today is the last day"),
    (date(2027, 1, 1), Severity.CRITICAL, None),
])
def test_microsofts_dates_either_side_of_the_deadline(today: date, severity: Severity,
                                                      days: str | None) -> None:
    [warning] = deadline_warnings(catalogue(), host="SMTP.Office365.com.", auth_type=2,
                                  today=today)
    assert warning.severity is severity
    assert "smtp.office365.com" in warning.message
    assert "RelayAuthenticationType 3" in warning.message
    if days:
        assert f"({days})" in warning.message and warning.date == date(2026, 12, 31)
    else:
        assert warning.message.startswith("Since the end of December 2026")
        assert warning.date == date(2027, 7, 1)


@pytest.mark.parametrize(("host", "auth_type", "expected"), [
    ("contoso-com.mail.protection.outlook.com", 2, 1),
    ("smtp.office365.com", 3, 0),
    ("smtp.office365.com", 0, 0),
    ("smtp.gmail.com", 2, 0),
    ("office365.com.attacker.example", 2, 0),
    (None, 2, 0),
])
def test_only_basic_auth_to_microsofts_relays_is_warned(host: str | None, auth_type: int,
                                                        expected: int) -> None:
    assert len(deadline_warnings(catalogue(), host=host, auth_type=auth_type,
                                 today=date(2026, 12, 2))) == expected
