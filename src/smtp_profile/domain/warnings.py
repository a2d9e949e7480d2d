"""Warnings about the stored profile that do not stop it working today.

An expiring client certificate or client secret, a relay certificate near its end, a
provider's announced end of Basic authentication: `GET /SMTP/Status`, Diagnose, the web
page and `smtp-profile show` all show the same list, so each producer adds
`StatusWarning`s and no surface words them on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class StatusWarning:
    """`code` is stable for scripts (e.g. `client-certificate-expiring`); `message` is for
    people; `date` is the day it is about (an expiry, a deadline), when there is one."""

    code: str
    severity: Severity
    message: str
    date: date | None = None
    link: str | None = None
