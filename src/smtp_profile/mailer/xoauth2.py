"""AUTH XOAUTH2: the token step and the authentication step of an OAuth relay.

The SASL string is `user=<mailbox>^Aauth=Bearer <token>^A^A` (base64), where the mailbox
is RelayUsername when set, else SenderAccount. A bearer token is as good as a password
while it lasts, so it is only ever sent over TLS. A cached token the relay refuses (it
may have been revoked) is replaced once by a fresh one; a fresh token the relay refuses
is reported as is, since asking again would only buy the same grant.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

import aiosmtplib
from aiosmtplib import SMTPResponse

from smtp_profile.domain.access_token import findings, read_claims
from smtp_profile.domain.oauth import endpoint_destination
from smtp_profile.domain.oauth_credential import CertificateCredential
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.steps import StepName
from smtp_profile.mailer import diagnosis
from smtp_profile.mailer.catalogue import catalogue
from smtp_profile.mailer.failures import AuthFailed, StepFailure, TokenFailed
from smtp_profile.mailer.recorder import Recorder
from smtp_profile.mailer.resolver import Resolution
from smtp_profile.oauth.token import (
    AccessToken,
    TokenClient,
    TokenFailure,
    TokenRequest,
    certificate_details,
)
from smtp_profile.wire.json_decoding import decode_json

MECHANISM = "XOAUTH2"
_AUTH_OK = 235
_CHALLENGE = 334


def sasl_response(user: str, token: Secret) -> bytes:
    """The base64 initial response of AUTH XOAUTH2."""
    raw = f"user={user}\x01auth=Bearer {token.reveal()}\x01\x01".encode()
    return base64.b64encode(raw)


class XOAuth2Login:
    """Obtains a token (the `token` step) and authenticates with it (the `auth` step)."""

    def __init__(self, smtp: aiosmtplib.SMTP, recorder: Recorder, tokens: TokenClient,
                 profile: Profile, endpoint: Resolution | None, *, tls_active: bool,
                 starttls_offered: bool, now: datetime, needed_seconds: float,
                 certificate: CertificateCredential | None = None) -> None:
        """`endpoint`: the token endpoint's vetted lookup, the only addresses it may reach;
        `now` and `needed_seconds` (the test's time left) judge the token's lifetime;
        `certificate` signs a client assertion instead of sending a client secret."""
        self.now = now
        self.needed_seconds = needed_seconds
        self.token_findings: list[str] = []
        self.smtp = smtp
        self.endpoint = endpoint
        self.rec = recorder
        self.tokens = tokens
        self.profile = profile
        self.user = profile.sasl_user
        self.tls_active = tls_active
        self.starttls_offered = starttls_offered
        self.certificate = certificate

    async def run(self) -> None:
        refusal = self._precondition_failure()
        if refusal is not None:
            raise refusal
        request = TokenRequest.for_profile(self.profile, self.certificate)
        token = await self._token(request)
        async with self.rec.step(StepName.AUTH) as step:
            step.details["mechanism"] = MECHANISM
            step.details["user"] = self.user
            reply, error = await self._attempt(token)
            if reply.code != _AUTH_OK and token.from_cache:
                self.rec.note("the relay refused the cached access token; fetching a new one")
                token = await self._renew(request)
                step.details["token_renewed"] = True
                reply, error = await self._attempt(token)
            if reply.code != _AUTH_OK:
                failure = rejected(reply.code, reply.message, error, user=self.user)
                if self.token_findings and failure.hint is not None:
                    failure.hint += (" The token step found: "
                                     + "; ".join(self.token_findings) + ".")
                raise failure
            step.reply_code, step.reply_text = reply.code, reply.message

    def _precondition_failure(self) -> AuthFailed | None:
        """Why AUTH XOAUTH2 cannot even be tried; checked before any token is requested."""
        if not self.tls_active:
            return AuthFailed(
                "refusing to send an OAuth access token over an unencrypted connection",
                hint="Set UseSSL: STARTTLS on port 587 (or 25), implicit TLS on port 465. "
                "A bearer token is as good as a password while it lasts."
                + (" The server offers STARTTLS." if self.starttls_offered else ""),
            )
        if not self.smtp.supports_extension("auth"):
            return diagnosis.auth_not_offered(tls_active=self.tls_active,
                                              starttls_offered=self.starttls_offered)
        offered = [m.upper() for m in self.smtp.server_auth_methods]
        if MECHANISM not in offered:
            return AuthFailed(
                f"the server offers AUTH {' '.join(offered) or '(none)'}, but not XOAUTH2",
                hint="OAuth client credentials need a relay that accepts AUTH XOAUTH2 "
                "(Microsoft 365: smtp.office365.com, Google: smtp.gmail.com); use Basic "
                "authentication (RelayAuthenticationType 2) with this relay.",
                details={"auth_mechanisms": offered},
            )
        return None

    async def _token(self, request: TokenRequest) -> AccessToken:
        async with self.rec.step(StepName.TOKEN) as step:
            step.details["endpoint"] = request.endpoint
            if request.certificate is not None:
                # Named before the request, so a refusal still says which key signed.
                step.details.update(certificate_details(request.certificate))
            if request.service_account is not None:  # JWT bearer grant (RFC 7523)
                step.details.update(grant=request.grant,
                                    service_account=request.service_account.client_email,
                                    key_id=request.service_account.private_key_id,
                                    subject=request.subject, scope=request.scope)
            try:
                token = await self.tokens.get(request, self.endpoint)
            except TokenFailure as exc:
                raise self._token_failed(exc) from None
            self.rec.add_secret(token.value)
            self._describe(step.details, token)
            self._read(step.details, token)
        return token

    def _read(self, details: dict[str, object], token: AccessToken) -> None:
        """The token's claims in the step's details, and why it cannot work for SMTP with
        this relay's provider, if it cannot; the token itself is never shown."""
        claims = read_claims(token.value.reveal())
        details["access_token"] = claims.details()
        provider = catalogue().relay_provider(self.profile.host)
        found = findings(claims, provider, now=self.now, needed_seconds=self.needed_seconds,
                         expires_in=token.expires_in)
        self.token_findings = found
        if found:
            details["warnings"] = found
            for finding in found:
                self.rec.note(f"warning: {finding}")
        elif claims.opaque:
            self.rec.note("the access token is opaque (not a JWT); its rights are not shown")

    def _token_failed(self, exc: TokenFailure) -> TokenFailed:
        """The token step's failure; an error the provider catalogue knows gets its hint."""
        failure = TokenFailed(exc.message, hint=exc.hint, details=dict(exc.details))
        error, description = exc.details.get("error"), exc.details.get("error_description")
        endpoint = self.profile.token_endpoint
        token_host = endpoint_destination(endpoint)[1] if endpoint else None
        entry = catalogue().token_error(
            error if isinstance(error, str) else None,
            description if isinstance(description, str) else None,
            relay_host=self.profile.host, token_host=token_host)
        if entry is None:
            return failure
        catalogued = diagnosis.catalogued(failure, entry)
        assert isinstance(catalogued, TokenFailed)
        return catalogued

    async def _renew(self, request: TokenRequest) -> AccessToken:
        """A fresh token inside the AUTH step; a failure fails the token step as well
        (raised `from` the AUTH failure, so both are recorded)."""
        try:
            token = await self.tokens.get(request, self.endpoint, fresh=True)
        except TokenFailure as exc:
            raise AuthFailed(
                "the relay refused the cached access token and no new one could be "
                "obtained (see the token step)"
            ) from self._token_failed(exc)
        self.rec.add_secret(token.value)
        details = self.rec.result(StepName.TOKEN).details
        self._describe(details, token)
        self._read(details, token)
        details["renewed"] = True
        return token

    def _describe(self, details: dict[str, object], token: AccessToken) -> None:
        details["cached"] = token.from_cache
        details["expires_in"] = token.expires_in
        lifetime = f" (expires in {token.expires_in:g} s)" if token.expires_in else ""
        source = "reused from the cache" if token.from_cache else "issued by the token endpoint"
        self.rec.note(f"access token {source}{lifetime}")

    async def _attempt(self, token: AccessToken) -> tuple[SMTPResponse, str | None]:
        """One AUTH XOAUTH2; returns the final reply and the server's JSON error, if any."""
        self.rec.client_secret(f"AUTH {MECHANISM}")
        reply = await self.smtp.execute_command(
            b"AUTH", MECHANISM.encode(), sasl_response(self.user, token.value))
        error: str | None = None
        if reply.code == _CHALLENGE:
            # The relay refused the token and explains why in a base64 JSON challenge;
            # an empty line acknowledges it and brings the final reply (RFC 7628).
            self.rec.server(reply.code, reply.message)
            error = _decode_error(reply.message)
            if error:
                self.rec.note(f"the server's XOAUTH2 error: {error}")
            self.rec.client("")
            reply = await self.smtp.execute_command(b"")
        self.rec.server(reply.code, reply.message)
        return reply, error


def rejected(code: int, text: str, error: str | None, *, user: str) -> StepFailure:
    """The relay refused the access token: why, and where to look."""
    details: dict[str, object] = {"xoauth2_error": error} if error else {}
    if code == 421:
        return diagnosis.reply_failed(StepName.AUTH, code, text)
    entry = diagnosis.known_reply(StepName.AUTH, code, text, mechanism=MECHANISM)
    if code == 504 or "5.5.4" in text:
        message = "the server refused the XOAUTH2 mechanism"
        hint = "The relay does not accept OAuth for this connection; check its AUTH settings."
    else:
        message = f"the server rejected the access token for {user!r}"
        hint = (
            "The token was issued but the relay does not accept it for this mailbox: check "
            "that the application may send as it (Microsoft 365: the SMTP.SendAsApp "
            "permission, and SMTP AUTH enabled for the mailbox), that Scope names the "
            "relay's API, and that RelayUsername (or SenderAccount) is the mailbox."
        )
    if error:
        message += f"; its explanation: {error}"
    failure = AuthFailed(message, hint=hint, reply_code=code, reply_text=text, details=details)
    return diagnosis.catalogued(failure, entry) if entry is not None else failure


def _decode_error(challenge: str) -> str | None:
    """The JSON a relay sends with a refused token (status, schemes, scope), as one line."""
    try:
        text = base64.b64decode(challenge.strip(), validate=True).decode("utf-8")
        value = decode_json(text, strict=False)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    shown = {k: v for k, v in value.items() if isinstance(v, str | int) and len(str(v)) < 200}
    return json.dumps(shown, sort_keys=True) if shown else None
