"""Every warning `GET /SMTP/Status`, the web page and `smtp-profile show` give, in one place.

Each producer is a pure function of `WarningInputs` returning `StatusWarning`s; adding a
kind of warning is one function and one line in `PRODUCERS`. Expiry warnings start 30
days ahead, turn to `warning` at 14 and `critical` at 3 (and after the date).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from smtp_profile.domain.client_certificate import StoredClientCertificate
from smtp_profile.domain.deadlines import deadline_warnings
from smtp_profile.domain.oauth_credential import OAuthCredentials
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.providers import Catalogue
from smtp_profile.domain.relay_options import RelayOptions
from smtp_profile.domain.status import LastTest
from smtp_profile.domain.warnings import Severity, StatusWarning
from smtp_profile.usecases.oauth_credentials import credential_warnings

EXPIRY_THRESHOLDS = ((3, Severity.CRITICAL), (14, Severity.WARNING), (30, Severity.INFO))
"""(days left at most, severity), the nearest first."""

CLIENT_CERTIFICATE_LINK = "/KeyfactorAPI/SMTP/ClientCertificate"


@dataclass(frozen=True)
class WarningInputs:
    """What the producers may look at: the stored state, read once per Status."""

    profile: Profile
    options: RelayOptions
    last_test: LastTest | None
    client_certificate: StoredClientCertificate | None
    client_certificate_unusable: tuple[str, ...]
    now: datetime
    oauth_credentials: OAuthCredentials | None = None
    catalogue: Catalogue | None = None
    """The providers' catalogue (their deadlines), when the service has one."""


def expiry_severity(expires: datetime, now: datetime) -> Severity | None:
    """The severity for something ending at `expires`; None while more than 30 days away."""
    days = (expires - now).total_seconds() / 86400
    for limit, severity in EXPIRY_THRESHOLDS:
        if days <= limit:
            return severity
    return None


def _expiry_message(what: str, expires: datetime, now: datetime) -> str:
    days = (expires - now).total_seconds() / 86400
    when = expires.date().isoformat()
    if days < 0:
        return f"{what} expired on {when}."
    whole = int(days)
    left = "today" if whole == 0 else f"in {whole} day{'s' if whole != 1 else ''}"
    return f"{what} expires {left} ({when})."


def client_certificate_expiry(inputs: WarningInputs) -> list[StatusWarning]:
    stored = inputs.client_certificate
    if stored is None or stored.certificate is None:
        return []
    facts = stored.certificate.facts
    severity = expiry_severity(facts.not_after, inputs.now)
    if severity is None:
        return []
    return [StatusWarning(
        "client-certificate-expiring", severity,
        _expiry_message(f"The relay client certificate ({facts.subject})", facts.not_after,
                        inputs.now) + " Set a renewed one (PUT /SMTP/ClientCertificate).",
        _day(facts.not_after), CLIENT_CERTIFICATE_LINK)]


def client_certificate_unbound(inputs: WarningInputs) -> list[StatusWarning]:
    if not inputs.client_certificate_unusable:
        return []
    return [StatusWarning(
        "client-certificate-unbound", Severity.WARNING,
        "The relay client certificate is not presented: "
        + "; ".join(inputs.client_certificate_unusable)
        + ". Set it again to bind it to the relay as it is now.",
        None, CLIENT_CERTIFICATE_LINK)]


def relay_certificate_expiry(inputs: WarningInputs) -> list[StatusWarning]:
    last = inputs.last_test
    if last is None or last.certificate_not_after is None:
        return []
    severity = expiry_severity(last.certificate_not_after, inputs.now)
    if severity is None:
        return []
    return [StatusWarning(
        "relay-certificate-expiring", severity,
        _expiry_message(f"The relay's own certificate (seen at the test of "
                        f"{last.tested_at.date().isoformat()})", last.certificate_not_after,
                        inputs.now) + " Ask the relay's operator to renew it.",
        _day(last.certificate_not_after), None)]


def oauth_credential_expiry(inputs: WarningInputs) -> list[StatusWarning]:
    """The OAuth certificate's or the recorded client secret's end, whichever is in use."""
    if inputs.oauth_credentials is None:
        return []
    return credential_warnings(inputs.profile, inputs.oauth_credentials, inputs.now)


def provider_deadlines(inputs: WarningInputs) -> list[StatusWarning]:
    """A provider's announced end of what the profile relies on (Microsoft's Basic
    authentication for SMTP AUTH), from the catalogue's dates."""
    if inputs.catalogue is None:
        return []
    return deadline_warnings(inputs.catalogue, host=inputs.profile.host,
                             auth_type=int(inputs.profile.auth_type),
                             today=inputs.now.date())


def _day(moment: datetime) -> date:
    return moment.date()


PRODUCERS: tuple[Callable[[WarningInputs], list[StatusWarning]], ...] = (
    provider_deadlines,
    client_certificate_expiry,
    client_certificate_unbound,
    oauth_credential_expiry,
    relay_certificate_expiry,
)
"""Every producer, in the order their warnings are listed."""


def collect(inputs: WarningInputs) -> tuple[StatusWarning, ...]:
    return tuple(warning for produce in PRODUCERS for warning in produce(inputs))
