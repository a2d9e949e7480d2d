"""Hints for an identity provider's refusal of a token request, beyond RFC 6749's codes.

Entra ID puts an `AADSTS<number>` code at the start of `error_description`; the ones a
client-credentials request meets are mapped here to what the operator should do. A
certificate credential refused as `invalid_client` by any provider usually means the
certificate was never uploaded to the application (or another one was).
"""

from __future__ import annotations

import re

_AADSTS = re.compile(r"\bAADSTS(\d{5,8})\b")

_CERTIFICATE_NOT_REGISTERED = (
    "The identity provider does not know the key that signed the assertion: upload the "
    "certificate (its public part, .cer/.pem) to the application (Entra ID: App "
    "registrations > your app > Certificates & secrets > Certificates > Upload "
    "certificate) and check that its thumbprint there matches this credential's "
    "(GET /SMTP/OAuth/Credential: Thumbprint), and that ClientId is that application's.")

_ENTRA_HINTS = {
    "700027": _CERTIFICATE_NOT_REGISTERED,
    "700024": "The assertion was refused as not within its valid time range: check this "
    "machine's clock (NTP); the assertion is valid for 5 minutes from the moment it is "
    "signed.",
    "7000274": "Entra ID refused the client assertion as invalid: check that TokenEndpoint "
    "is the tenant's v2.0 token URL (https://login.microsoftonline.com/<tenant>/oauth2/"
    "v2.0/token), which the assertion's audience must equal, and that the certificate is "
    "uploaded to the application.",
    "50012": "Entra ID refused the client assertion (AADSTS50012): check that the "
    "certificate is uploaded to this application, has not expired there, and that "
    "TokenEndpoint is the tenant's v2.0 token URL.",
    "7000222": "The client secret has expired at Entra ID: create a new one under "
    "Certificates & secrets and PUT /SMTP with it (or use a certificate credential, "
    "PUT /SMTP/OAuth/Credential), and record its expiry so the service warns in time.",
    "700016": "Entra ID does not know this ClientId in the tenant of TokenEndpoint: check "
    "both (the Application (client) ID and the Directory (tenant) ID).",
    "90002": "The tenant in TokenEndpoint does not exist: check the Directory (tenant) ID.",
}


def refusal_hint(error: str, description: str | None, *, assertion: bool) -> str | None:
    """A hint for `error`/`error_description`, or None to use RFC 6749's generic one."""
    match = _AADSTS.search(description or "")
    if match is not None and match.group(1) in _ENTRA_HINTS:
        return _ENTRA_HINTS[match.group(1)]
    if assertion and error == "invalid_client":
        return ("The identity provider refused the client assertion. "
                + _CERTIFICATE_NOT_REGISTERED)
    return None
