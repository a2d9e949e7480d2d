"""Signing in with a bearer token from the operator's OpenID Connect identity provider.

The token is verified by the port (identity/provider.py: signature, issuer, audience,
times), then read by the operator's claim mapping (domain/bearer.py) into a principal.
A valid token that grants no permission still signs its caller in: the route answers
403, as it would for a local user without the permission.

Refused tokens are audited like refused passwords (bounded per address, never the
token: its subject and client, as it claimed them) and counted on the address's
sign-in counter, so one address sending bad tokens gets 429 with Retry-After like one
guessing passwords. A valid token is never held back: a signature cannot be guessed,
and verifying it costs no database write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from smtp_profile.domain.audit import Outcome
from smtp_profile.domain.bearer import ClaimMapping, client_of, shown, subject_of
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.throttle import ADDRESS, Judged, address_key
from smtp_profile.usecases.accounts import Principal
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.memory import VerifiedTokens
from smtp_profile.usecases.ports import Clock, SignInCounters, TokenRejected, TokenVerifier
from smtp_profile.usecases.signin import throttled

log = logging.getLogger(__name__)


class TokenRefused(DomainError):
    """A 401 for a bearer token; `reason` goes into RFC 6750's error_description."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorKind.UNAUTHENTICATED, f"The bearer token was refused: {reason}.")
        self.reason = reason


@dataclass(frozen=True)
class TokenCaller:
    """A verified token's caller, and what the audit trail says of it."""

    principal: Principal
    subject: str | None
    client: str | None


class BearerSignIn:
    def __init__(self, verifier: TokenVerifier, mapping: ClaimMapping, audit: AuditTrail,
                 counters: SignInCounters, clock: Clock = time.time,
                 verified: VerifiedTokens[tuple[int, TokenCaller]] | None = None) -> None:
        self._verifier = verifier
        self._mapping = mapping
        self._audit = audit
        self._counters = counters
        self._clock = clock
        # (the key generation it was verified under, its caller)
        self._verified: VerifiedTokens[tuple[int, TokenCaller]] = (
            VerifiedTokens() if verified is None else verified)

    def remembered(self, token: str) -> TokenCaller | None:
        """The caller of a token verified before, under the keys published now, that
        has not expired; no signature check, no I/O (usecases/memory.VerifiedTokens)."""
        kept = self._verified.get(token, self._clock())
        if kept is None or kept[0] != self._verifier.key_generation:
            return None
        return kept[1]

    async def admit(self, token: str, *, client: str, channel: str) -> TokenCaller:
        """The caller of a valid token; raises TokenRefused (401), Throttled (429) or
        IdentityProviderUnavailable (503)."""
        remembered = self.remembered(token)
        if remembered is not None:
            return remembered
        try:
            claims = await self._verifier.verify(token)
        except TokenRejected as rejected:
            await self._refused(rejected.reason, rejected.claims, client, channel)
        name = self._mapping.user(claims)
        if name is None:
            await self._refused("it names no user (by the claims "
                                f"{', '.join(self._mapping.user_claims)})", claims, client,
                                channel)
        caller = TokenCaller(Principal(shown(name), self._mapping.permissions(claims)),
                             subject_of(claims), client_of(claims))
        expires = claims.get("exp")
        if isinstance(expires, int | float) and not isinstance(expires, bool):
            self._verified.put(token, (self._verifier.key_generation, caller),
                               float(expires))
        return caller

    async def _refused(self, reason: str, claims: Mapping[str, Any], client: str,
                       channel: str) -> NoReturn:
        """Counted on the address, logged and audited (subject and client as claimed,
        never the token); raises TokenRefused, or Throttled while the address waits."""
        error: DomainError = TokenRefused(reason)
        wait = await self._counters.attempt((Judged(address_key(client), ADDRESS),),
                                            self._clock())
        if wait > 0:
            error = throttled(wait)
        subject, oauth_client = subject_of(claims), client_of(claims)
        detail = (f"{channel}: bearer token of subject {subject or '-'} and client "
                  f"{oauth_client or '-'} (unverified): {reason}")
        log.warning("refused bearer token from %s via %s: %s", client, channel, reason)
        await self._audit.record_refusal(user=subject, client=client,
                                         outcome=Outcome.of_error(error), detail=detail)
        raise error
