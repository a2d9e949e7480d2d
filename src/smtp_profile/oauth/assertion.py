"""The client assertion of RFC 7523 (`private_key_jwt`), signed with PyJWT.

A fresh JWT for every token request: `iss` = `sub` = ClientId, `aud` = TokenEndpoint
(Entra ID wants exactly the v2.0 token URL), a random `jti` (so a captured assertion
cannot be replayed where providers keep them), `iat`/`nbf` now and `exp` five minutes on.
The header names the certificate both ways: `x5t#S256` (SHA-256, what Entra ID's current
documentation asks for, with PS256) and `x5t` (SHA-1, what its older documentation and
other providers look the key up by). No `kid`: a provider that matches `kid` against
its own key ids (Okta's JWKS) would refuse a thumbprint there.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from smtp_profile.domain.oauth_credential import CertificateCredential
from smtp_profile.domain.secrets import Secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME_SECONDS = 300


@dataclass(frozen=True)
class SignedAssertion:
    value: Secret
    jti: str
    x5t_s256: str
    x5t: str
    algorithm: str
    expires_at: int


def sign_assertion(credential: CertificateCredential, *, client_id: str, audience: str,
                   clock: Callable[[], float] = time.time) -> SignedAssertion:
    """A new assertion for one token request; its key stays in `credential`."""
    now = int(clock())
    jti = secrets.token_urlsafe(24)
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti,
              "iat": now, "nbf": now, "exp": now + LIFETIME_SECONDS}
    headers = {"typ": "JWT", "x5t#S256": credential.x5t_s256, "x5t": credential.x5t}
    token = jwt.encode(claims, credential.private_key.reveal(), algorithm=credential.algorithm,
                       headers=headers)
    return SignedAssertion(Secret(token), jti, credential.x5t_s256, credential.x5t,
                           credential.algorithm, now + LIFETIME_SECONDS)
