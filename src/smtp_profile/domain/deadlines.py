"""Providers' announced ends of an authentication type, as warnings about a profile.

Microsoft retires Basic authentication for SMTP client submission in stages; a profile
that signs in to Exchange Online with a password (RelayAuthenticationType 2) gets a
warning with Microsoft's dates, which live in the provider catalogue's data so that a
release can update them. The day is handed in (an injectable clock), so the wording
before and after a date is tested without waiting for it.
"""

from __future__ import annotations

from datetime import date

from smtp_profile.domain.providers import Catalogue
from smtp_profile.domain.warnings import Severity, StatusWarning


def deadline_warnings(catalogue: Catalogue, *, host: str | None, auth_type: int,
                      today: date) -> list[StatusWarning]:
    """The warnings a profile with this relay `host` and `auth_type` gets on `today`."""
    provider = catalogue.relay_provider(host)
    if provider is None:
        return []
    shown = (host or "").strip().lower().rstrip(".")
    found: list[StatusWarning] = []
    for deadline in catalogue.deadlines:
        if deadline.provider != provider.key or deadline.auth_type != auth_type:
            continue
        if today <= deadline.available_until:
            days = (deadline.available_until - today).days
            left = "today is the last day" if days == 0 else (
                "1 day left" if days == 1 else f"{days} days left")
            found.append(StatusWarning(
                code=deadline.code, severity=Severity.WARNING,
                message=deadline.before.format(host=shown, days_left=left),
                date=deadline.available_until, link=deadline.link))
        else:
            found.append(StatusWarning(
                code=deadline.code, severity=Severity.CRITICAL,
                message=deadline.after.format(host=shown),
                date=deadline.final_removal_announced_from, link=deadline.link))
    return found
