"""The signed assertion of the JWT bearer grant (RFC 7523 section 2.1), with PyJWT.

A fresh assertion per token request: RS256 with the service account's private key, the
header's `kid` naming the key (Google looks the public key up by it), the claims from
`domain/service_account.assertion_claims`. The assertion is itself a credential for its
few minutes, so it is built only in the request's form and never kept or logged.
"""

from __future__ import annotations

import time

import jwt

from smtp_profile.domain.service_account import ServiceAccountKey, assertion_claims

ALGORITHM = "RS256"


def signed_assertion(key: ServiceAccountKey, subject: str, scope: str,
                     now: float | None = None) -> str:
    """The compact JWS to post as `assertion`."""
    claims = assertion_claims(key, subject, scope, int(time.time() if now is None else now))
    return jwt.encode(claims, key.private_key.reveal(), algorithm=ALGORITHM,
                      headers={"kid": key.private_key_id, "typ": "JWT"})
