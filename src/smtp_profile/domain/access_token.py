"""An access token, read: who it is for, from which tenant and app, with which rights.

The token came straight from the token endpoint over verified TLS, so its payload is
read without checking a signature (the relay checks that); only the claims that explain a
refusal are kept, never the token. A token that is not a JWT is opaque, which is normal
for many providers and not an error. Then the claims are held against what the relay's
provider needs (Microsoft 365: audience https://outlook.office365.com and the role
SMTP.SendAsApp), so the report names a missing permission at the `token` step, before
AUTH fails with a bare `535 5.7.3`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from smtp_profile.domain.providers import Provider

MAX_TOKEN = 16 * 1024


@dataclass(frozen=True)
class TokenClaims:
    """What the report shows of a JWT access token; `opaque` when it is not one."""

    opaque: bool
    audience: tuple[str, ...] = ()
    tenant: str | None = None
    app_id: str | None = None
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    def lifetime_seconds(self) -> float | None:
        if self.issued_at is None or self.expires_at is None:
            return None
        return (self.expires_at - self.issued_at).total_seconds()

    def details(self) -> dict[str, object]:
        if self.opaque:
            return {"format": "opaque"}
        shown: dict[str, object] = {"format": "jwt", "audience": list(self.audience),
                                    "tenant": self.tenant, "app_id": self.app_id,
                                    "roles": list(self.roles), "scopes": list(self.scopes)}
        if self.expires_at is not None:
            shown["expires_at"] = self.expires_at.isoformat()
        lifetime = self.lifetime_seconds()
        if lifetime is not None:
            shown["lifetime_s"] = lifetime
        return shown


def read_claims(token: str) -> TokenClaims:
    """The claims of a JWT (unverified), or an opaque token; never raises."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN or len(parts) != 3:
        return TokenClaims(opaque=True)
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError, RecursionError):
        return TokenClaims(opaque=True)
    if not isinstance(payload, dict):
        return TokenClaims(opaque=True)
    audience = payload.get("aud")
    audiences = ((audience,) if isinstance(audience, str)
                 else tuple(a for a in audience if isinstance(a, str))
                 if isinstance(audience, list) else ())
    roles = payload.get("roles")
    scope = payload.get("scp", payload.get("scope"))
    return TokenClaims(
        opaque=False,
        audience=audiences,
        tenant=_text(payload.get("tid")),
        app_id=_text(payload.get("appid")) or _text(payload.get("azp")),
        roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        issued_at=_moment(payload.get("iat")),
        expires_at=_moment(payload.get("exp")),
    )


def findings(claims: TokenClaims, provider: Provider | None, *, now: datetime,
             needed_seconds: float, expires_in: float | None = None) -> list[str]:
    """Why this token cannot work for SMTP with the relay's provider, in plain words.

    `needed_seconds`: how long the rest of the test may take; a token that expires
    sooner cannot see it through (its `exp`, else the endpoint's `expires_in`).
    """
    found: list[str] = []
    left = ((claims.expires_at - now).total_seconds() if claims.expires_at is not None
            else expires_in)
    if left is not None and left < needed_seconds:
        found.append(
            f"the access token expires in {max(left, 0):.0f} s, before the test could "
            f"finish (it may take up to {needed_seconds:g} s); check this machine's clock "
            "and the token lifetime the identity provider issues")
    if claims.opaque or provider is None or not provider.smtp_audiences:
        return found
    audiences = {a.lower().rstrip("/") for a in claims.audience}
    if not audiences & {a.rstrip("/") for a in provider.smtp_audiences}:
        shown = ", ".join(claims.audience) or "(none)"
        graph = audiences & {a.rstrip("/") for a in provider.graph_audiences}
        found.append(
            f"the access token is for {shown}, not for {provider.smtp_audiences[0]}"
            + (" (it is a Microsoft Graph token)" if graph else "")
            + f": {provider.name} refuses it for SMTP; set Scope to "
            f"{provider.scope or provider.smtp_audiences[0]}")
    role = provider.smtp_app_role
    delegated = provider.smtp_delegated_scope
    has_role = role is not None and role.lower() in {r.lower() for r in claims.roles}
    has_scope = delegated is not None and delegated.lower() in {
        s.lower() for s in claims.scopes}
    if role and not has_role and not has_scope:
        graph_roles = [r for r in claims.roles
                       if r.lower() in {g.lower() for g in provider.graph_roles}]
        text = (f"the access token does not carry the application permission {role} "
                f"(roles: {', '.join(claims.roles) or 'none'})")
        if graph_roles:
            text += (f"; {', '.join(graph_roles)} is there, but that permission is for "
                     "Microsoft Graph, not for SMTP")
        text += (f": grant {role} of Office 365 Exchange Online to the app (API "
                 "permissions, Application permissions) and give admin consent")
        found.append(text)
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _moment(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
