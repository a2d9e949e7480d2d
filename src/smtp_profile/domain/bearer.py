"""Bearer tokens from an OpenID Connect identity provider: which tokens are acceptable
and what a verified token's claims say about its caller.

Pure rules. The signature, the times, the issuer and the audience are checked by a JOSE
library in the adapter (identity/provider.py) with the values held here; this module
then reads the verified claims: who the caller is, which client it used, and which of
this service's permissions the operator's mapping grants.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from smtp_profile.domain.permissions import Permission

ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                       "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric signatures only: `none` and the HMAC family (whose key a verifier holding
only public keys could be tricked into using as a shared secret) are never accepted."""

LEEWAY_SECONDS = 60
"""Clock skew tolerated on `exp`, `nbf` and `iat` between the provider and this host."""

REQUIRED_CLAIMS = ("iss", "aud", "exp")
CLIENT_CLAIMS = ("azp", "client_id", "appid")
"""Where providers name the OAuth client a token was issued to (OIDC, RFC 9068, Entra v1)."""

_MAX_SHOWN = 128


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_provider_url(url: str) -> str:
    """`url` if the provider may be reached there: https, or plain http on loopback only
    (a test stand-in or a local sidecar); raises ValueError otherwise."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback_url(url)):
        return url
    raise ValueError(f"{url!r} must be an https URL (plain http only on loopback)")


@dataclass(frozen=True)
class TokenRules:
    """What a token must say to be accepted at all: who issued it, for whom."""

    issuer: str
    audiences: tuple[str, ...]
    leeway: int = LEEWAY_SECONDS


@dataclass(frozen=True)
class ClaimMapping:
    """The operator's mapping from a verified token's claims to a principal."""

    user_claims: tuple[str, ...]
    """Claims tried in order for the user's name; the first non-empty string wins."""
    permission_claims: tuple[str, ...]
    """Claim paths (`realm_access.roles`, `roles`, `scope`) whose values grant permissions."""
    read_values: frozenset[str]
    modify_values: frozenset[str]

    def user(self, claims: Mapping[str, Any]) -> str | None:
        """The caller's name, or None when the token names nobody by these claims."""
        for name in self.user_claims:
            value = claim_at(claims, name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def permissions(self, claims: Mapping[str, Any]) -> frozenset[Permission]:
        """The permissions the token's role, group or scope values grant."""
        values: set[str] = set()
        for path in self.permission_claims:
            values |= claim_values(claim_at(claims, path))
        granted = set()
        if values & self.read_values:
            granted.add(Permission.READ)
        if values & self.modify_values:
            granted.add(Permission.MODIFY)
        return frozenset(granted)


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """The claim at `path`: a top-level name as written (Entra's URIs hold dots), else
    a dotted path into nested objects (`realm_access.roles`); None if absent."""
    if path in claims:
        return claims[path]
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def claim_values(value: object) -> frozenset[str]:
    """The values of a role, group or scope claim: a list of strings, or one string of
    space-separated values (OAuth's `scope`)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def client_of(claims: Mapping[str, Any]) -> str | None:
    """The OAuth client the token was issued to, for the audit trail."""
    for name in CLIENT_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return shown(value)
    return None


def subject_of(claims: Mapping[str, Any]) -> str | None:
    value = claims.get("sub")
    return shown(value) if isinstance(value, str) and value else None


def shown(text: str) -> str:
    """A claim as a log or audit record may show it: bounded, printable."""
    printable = "".join(c if c.isprintable() else "?" for c in text[:_MAX_SHOWN])
    return printable + ("…" if len(text) > _MAX_SHOWN else "")
