"""The OAuth 2.0 client-credentials grant (RFC 6749 section 4.4), with httpx.

One form-encoded POST to the token endpoint, the client authenticated by
`client_secret_post`. The endpoint's name was looked up and judged before the test; the
request goes to exactly those addresses (`pinned.py`), never to a second lookup's answer.
The certificate is verified with the same trust as the relay (system store plus
SMTP_PROFILE_CA_BUNDLE) and redirects are not followed: the client secret goes to
TokenEndpoint and nowhere else. Whatever goes wrong becomes a `TokenFailure` whose text
comes from the identity provider's `error` and `error_description` (short, with the secret
cut out in every form, should a provider echo it: see domain/redaction.py); any other
answer's body is never shown, so the token request cannot be used to read another service.
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from smtp_profile import __version__
from smtp_profile.domain.addresses import has_control_chars
from smtp_profile.domain.oauth import RequestHeader, endpoint_destination
from smtp_profile.domain.oauth_credential import CertificateCredential
from smtp_profile.domain.profile import Profile, certificate_bound
from smtp_profile.domain.redaction import Redactor
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.service_account import (
    GMAIL_SCOPE,
    JWT_BEARER_GRANT,
    TOKEN_ERROR_HINTS,
    ServiceAccountKey,
)
from smtp_profile.mailer.resolver import Resolution, ResolvedAddress
from smtp_profile.oauth.assertion import ASSERTION_TYPE, SignedAssertion, sign_assertion
from smtp_profile.oauth.cache import TokenCache
from smtp_profile.oauth.jwt_bearer import signed_assertion
from smtp_profile.oauth.pinned import PinnedTransport, same_host
from smtp_profile.oauth.refusal_hints import refusal_hint
from smtp_profile.wire.json_decoding import decode_json

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
MAX_QUOTED_TEXT = 300
MAX_ERROR_CODE = 64  # RFC 6749's error codes are short ASCII words
MAX_CONTENT_TYPE = 100
USER_AGENT = f"smtp-profile/{__version__}"

# Hints for the standard error codes of RFC 6749 section 5.2.
_ERROR_HINTS = {
    "invalid_client": "Check ClientId and ClientSecret; the client secret may have expired "
    "or been replaced at the identity provider.",
    "unauthorized_client": "The application is not allowed the client-credentials grant; "
    "allow it at the identity provider.",
    "invalid_scope": "Check Scope (Microsoft 365: https://outlook.office365.com/.default).",
    "invalid_request": "Check TokenEndpoint, Scope, Audience and RequestHeaders against "
    "the identity provider's documentation.",
    "invalid_grant": "The identity provider refused the grant; check the application's "
    "configuration there.",
    "unsupported_grant_type": "This endpoint does not offer the client-credentials grant; "
    "check TokenEndpoint.",
}


@dataclass(frozen=True)
class TokenRequest:
    """Everything that decides which token is issued; the secret does not print.

    The client authenticates with `client_secret` (client_secret_post) or, when
    `certificate` is set, with a fresh signed assertion (private_key_jwt, RFC 7523).
    With `service_account` the grant is the JWT bearer grant (RFC 7523): a fresh
    assertion signed with its private key, for the mailbox `subject`, instead of the
    client secret.
    """

    endpoint: str
    client_id: str
    client_secret: Secret | None = field(default=None, repr=False)
    scope: str | None = None
    audience: str | None = None
    headers: tuple[RequestHeader, ...] = ()
    certificate: CertificateCredential | None = field(default=None, repr=False)
    service_account: ServiceAccountKey | None = field(default=None, repr=False)
    subject: str | None = None
    signatures: tuple[Secret, ...] = field(default=(), repr=False, compare=False)
    """The signatures of the assertions this request sent (what makes them credentials),
    so that an identity provider echoing one is redacted like a client secret."""

    @classmethod
    def for_profile(cls, profile: Profile,
                    certificate: CertificateCredential | None = None) -> TokenRequest:
        """A Google service account key the profile names signs a JWT bearer grant; else
        the certificate, when it is bound to this profile, is used instead of any client
        secret (domain/oauth_credential.py)."""
        account = profile.service_account
        if account is not None and profile.token_endpoint:
            return cls(endpoint=profile.token_endpoint, client_id=account.key.client_id,
                       client_secret=None, scope=profile.scope or GMAIL_SCOPE,
                       headers=profile.request_headers or (),
                       service_account=account.key, subject=profile.sasl_user)
        if certificate is not None and not certificate_bound(certificate, profile):
            certificate = None
        if not (profile.token_endpoint and profile.client_id
                and (profile.client_secret or certificate)):
            raise ValueError("the profile has no complete OAuth settings")
        return cls(endpoint=profile.token_endpoint, client_id=profile.client_id,
                   client_secret=None if certificate else profile.client_secret,
                   scope=profile.scope, audience=profile.audience,
                   headers=profile.request_headers or (), certificate=certificate)

    @property
    def grant(self) -> str:
        return "jwt-bearer" if self.service_account is not None else "client_credentials"

    def secrets(self) -> list[Secret]:
        """What this request sent (or signed with) that must never be shown: the client
        secret, the assertions' signatures, the certificate's key."""
        values = [self.client_secret, *self.signatures,
                  self.certificate.private_key if self.certificate else None]
        return [value for value in values if value is not None]

    def identity(self) -> list[str]:
        """Every input of the request, for the cache key (which hashes it): a changed
        secret, certificate, key, algorithm or mailbox never finds a token bought with
        another."""
        if self.service_account is not None:
            credential = ["jwt-bearer", self.service_account.private_key.reveal(),
                          self.subject or ""]
        elif self.certificate is not None:
            credential = ["assertion", self.certificate.sha256_fingerprint,
                          self.certificate.private_key.reveal(), self.certificate.algorithm]
        else:
            credential = ["secret", self.client_secret.reveal() if self.client_secret else ""]
        parts = [self.endpoint, self.client_id, *credential,
                 self.scope or "", self.audience or ""]
        for header in self.headers:
            parts += [header.name.lower(), header.value]
        return parts

    def form(self, assertion: SignedAssertion | None = None) -> dict[str, str]:
        if self.service_account is not None:
            return {"grant_type": JWT_BEARER_GRANT,
                    "assertion": signed_assertion(self.service_account, self.subject or "",
                                                  self.scope or GMAIL_SCOPE)}
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        if assertion is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = assertion.value.reveal()
        elif self.client_secret is not None:
            form["client_secret"] = self.client_secret.reveal()
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        return form

    def sign(self) -> SignedAssertion | None:
        """A fresh assertion for one request (None when a client secret is used)."""
        if self.certificate is None:
            return None
        return sign_assertion(self.certificate, client_id=self.client_id,
                              audience=self.endpoint)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token; `from_cache` says whether it was issued for an earlier test."""

    value: Secret = field(repr=False)
    expires_in: float | None
    from_cache: bool = False


@dataclass
class TokenFailure(Exception):
    """Why no token was obtained, explained; never holds the client secret."""

    message: str
    hint: str | None = None
    details: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


class TokenClient:
    """Obtains access tokens, reusing a cached one until shortly before it expires."""

    def __init__(self, *, tls_context: ssl.SSLContext, connect_timeout: float,
                 timeout: float, trust_source: str = "SMTP_PROFILE_CA_BUNDLE",
                 clock: Callable[[], float] = time.monotonic,
                 cache: TokenCache | None = None) -> None:
        self.tls_context = tls_context
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._trust_source = trust_source
        self.cache = TokenCache(clock) if cache is None else cache

    async def get(self, request: TokenRequest, endpoint: Resolution | None, *,
                  fresh: bool = False) -> AccessToken:
        """A usable token: from the cache (unless `fresh`), or else from the endpoint at
        the addresses in `endpoint` (its vetted lookup)."""
        key = self.cache.key(request.identity())
        cached = None if fresh else self.cache.get(key)
        if cached is not None:
            return AccessToken(cached.token, cached.expires_in, from_cache=True)
        self.cache.forget(key)
        token = await self.fetch(request, endpoint)
        self.cache.put(key, token.value, token.expires_in)
        return token

    async def fetch(self, request: TokenRequest, endpoint: Resolution | None) -> AccessToken:
        """Ask the token endpoint, at its vetted addresses only, for a new token; raises
        TokenFailure (failing closed when there is no usable vetted lookup)."""
        addresses = _vetted_addresses(request, endpoint)
        assertion = request.sign()
        form = request.form(assertion)
        signed = form.get("assertion") or form.get("client_assertion")
        if signed:
            request = replace(request, signatures=(Secret(signed.rsplit(".", 1)[-1]),))
        try:
            status, location, content_type, body = await self._post(request, form, addresses)
        except httpx.ConnectTimeout:
            raise TokenFailure(
                f"could not connect to the token endpoint within {self._timeout.connect:g} s",
                hint="No answer at all: a firewall may be dropping the connection. Check "
                "that this machine may reach TokenEndpoint.",
            ) from None
        except httpx.TimeoutException:
            raise TokenFailure(
                f"the token endpoint did not answer within {self._timeout.read:g} s",
                hint="Check that this machine can reach TokenEndpoint (firewall, proxy).",
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_failure(exc) from None
        details: dict[str, object] = {"http_status": status}
        if assertion is not None:
            details.update(assertion_details(assertion))
        if 300 <= status < 400:
            raise TokenFailure(
                f"the token endpoint redirected (HTTP {status}) to "
                f"{_quoted(location or '(no Location)', request)}; redirects are not "
                "followed, so the client credential only ever goes to TokenEndpoint",
                hint="Set TokenEndpoint to the URL the identity provider documents.",
                details=details,
            )
        answer = _json_object(body)
        if status != 200:
            raise _refusal(status, answer, content_type, request, details)
        if answer is None:
            raise TokenFailure("the token endpoint's answer is not a JSON object",
                               hint="Check TokenEndpoint: it does not look like an OAuth "
                               "token endpoint.", details=details)
        return _access_token(answer, request, details)

    async def _post(self, request: TokenRequest, form: dict[str, str],
                    addresses: list[ResolvedAddress],
                    ) -> tuple[int, str | None, str | None, bytes]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        headers.update({h.name: h.value for h in request.headers})
        _scheme, host, port, _path, _query = endpoint_destination(request.endpoint)
        transport = PinnedTransport(ssl_context=self.tls_context, host=host, port=port,
                                    addresses=addresses)
        client = httpx.AsyncClient(transport=transport, timeout=self._timeout,
                                   follow_redirects=False, trust_env=False)
        async with client, client.stream("POST", request.endpoint, data=form,
                                         headers=headers) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise TokenFailure(
                        f"the token endpoint's answer is larger than "
                        f"{MAX_RESPONSE_BYTES // 1024} KiB (HTTP {response.status_code})",
                        hint="Check TokenEndpoint: it does not look like an OAuth token "
                        "endpoint.", details={"http_status": response.status_code})
            log.info("token request to %s for client %s: HTTP %s", request.endpoint,
                     request.client_id, response.status_code)
            return (response.status_code, response.headers.get("location"),
                    response.headers.get("content-type"), bytes(body))

    def _transport_failure(self, exc: httpx.HTTPError) -> TokenFailure:
        cause = _root_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return TokenFailure(
                f"the token endpoint's certificate was refused ({reason})",
                hint=f"If the identity provider is yours, add its CA to {self._trust_source}; "
                "certificate checks are never switched off.",
                details={"verify_code": cause.verify_code},
            )
        if isinstance(cause, ssl.SSLError):
            return TokenFailure(f"the TLS handshake with the token endpoint failed "
                                f"({cause.reason or cause})")
        if isinstance(cause, socket.gaierror):
            return TokenFailure(
                f"the token endpoint's host name does not resolve ({cause.strerror or cause})",
                hint="Check the spelling of TokenEndpoint and this machine's DNS.")
        if isinstance(cause, ConnectionRefusedError):
            return TokenFailure("could not connect to the token endpoint (connection refused)",
                                hint="Nothing listens at TokenEndpoint's host and port.")
        if isinstance(exc, httpx.ConnectError):
            return TokenFailure(f"could not connect to the token endpoint ({cause or exc})",
                                hint="Check the network path from this machine to "
                                "TokenEndpoint.")
        return TokenFailure(f"the token endpoint broke off the exchange "
                            f"({type(exc).__name__}: {exc})")


def certificate_details(certificate: CertificateCredential) -> dict[str, object]:
    """Which certificate credential signs the assertion (the key is never shown)."""
    return {"client_authentication": "private_key_jwt", "assertion_alg": certificate.algorithm,
            "x5t#S256": certificate.x5t_s256, "x5t": certificate.x5t,
            "thumbprint": certificate.thumbprint,
            "certificate_not_after": certificate.not_after.isoformat().replace("+00:00", "Z")}


def assertion_details(assertion: SignedAssertion) -> dict[str, object]:
    """What the token step reports about the assertion (never the assertion itself)."""
    return {"client_authentication": "private_key_jwt", "assertion_alg": assertion.algorithm,
            "x5t#S256": assertion.x5t_s256, "x5t": assertion.x5t, "jti": assertion.jti}


def _root_cause(exc: BaseException) -> BaseException | None:
    """The innermost cause: httpx wraps httpcore, which wraps the socket or SSL error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    deepest: BaseException | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current is not exc:
            deepest = current
        current = current.__cause__ or current.__context__
    return deepest


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        # Lenient: a NaN or overlong expires_in is refused by _seconds, not the answer.
        value = decode_json(body.decode("utf-8"), strict=False)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _vetted_addresses(request: TokenRequest,
                      endpoint: Resolution | None) -> list[ResolvedAddress]:
    """The addresses the policy judged for this endpoint; anything else fails closed."""
    _scheme, host, _port, _path, _query = endpoint_destination(request.endpoint)
    if endpoint is None or not same_host(host, endpoint.host):
        raise TokenFailure("the token endpoint was not looked up and checked against the "
                           "outbound policy before the test, so nothing was sent to it")
    if endpoint.error is not None:
        reason = endpoint.error.strerror or str(endpoint.error)
        raise TokenFailure(
            f"the token endpoint's host name does not resolve ({reason})",
            hint="Check the spelling of TokenEndpoint and this machine's DNS.")
    if not endpoint.addresses:
        raise TokenFailure("the token endpoint's host name resolved to no usable address")
    return endpoint.addresses


def _refusal(status: int, answer: dict[str, Any] | None, content_type: str | None,
             request: TokenRequest, details: dict[str, object]) -> TokenFailure:
    error = answer.get("error") if answer else None
    description = answer.get("error_description") if answer else None
    if isinstance(error, str) and error:
        error = _quoted(error, request, MAX_ERROR_CODE)
        details["error"] = error
        message = f"the token endpoint refused the request: {error}"
        if isinstance(description, str) and description:
            description = _quoted(description, request)
            details["error_description"] = description
            message += f" ({description})"
        message += f" (HTTP {status})"
        if request.service_account is not None:  # Google's JWT bearer grant
            return TokenFailure(message, hint=TOKEN_ERROR_HINTS.get(error), details=details)
        hint = refusal_hint(error, description if isinstance(description, str) else None,
                            assertion=request.certificate is not None)
        return TokenFailure(message, hint=hint or _ERROR_HINTS.get(error), details=details)
    if status in (404, 405):
        hint = "TokenEndpoint does not look like an OAuth token endpoint; check the URL."
    elif status >= 500:
        hint = "The identity provider has a problem; try again later."
    else:
        hint = "Check TokenEndpoint and the OAuth settings."
    # What a non-OAuth answer says is not shown: it could be another service's data.
    message = f"the token endpoint answered HTTP {status} without an OAuth error"
    if content_type:
        kind = _quoted(content_type, request, MAX_CONTENT_TYPE)
        details["content_type"] = kind
        message += f" (content type {kind})"
    return TokenFailure(message, hint=hint, details=details)


def _access_token(answer: dict[str, Any], request: TokenRequest,
                  details: dict[str, object]) -> AccessToken:
    value = answer.get("access_token")
    if not isinstance(value, str) or not value:
        raise TokenFailure("the token endpoint's answer has no access_token", details=details)
    if has_control_chars(value) or any(ch.isspace() for ch in value):
        raise TokenFailure("the access token has characters a bearer token cannot have "
                           "(spaces or control characters)", details=details)
    token_type = answer.get("token_type")
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        raise TokenFailure(
            f"the token endpoint issued a {_quoted(token_type, request)!r} token; AUTH "
            "XOAUTH2 needs a bearer token", details=details)
    expires_in = _seconds(answer.get("expires_in"))
    details["expires_in"] = expires_in
    return AccessToken(Secret(value), expires_in)


def _seconds(value: object) -> float | None:
    """expires_in as a number; some providers send it as a string of digits. NaN and
    infinities (json accepts both) are no lifetime at all: a NaN compares false with
    everything, so a token kept with it would never expire."""
    if isinstance(value, bool):
        return None
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) < 1e300 else None
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        seconds = float(value.strip())
    return seconds if seconds is not None and math.isfinite(seconds) else None


def _quoted(text: str, request: TokenRequest, limit: int = MAX_QUOTED_TEXT) -> str:
    """Text from the identity provider, made safe to show: one line, at most `limit`
    characters, no secret."""
    text = Redactor.of(request.secrets()).text(text)
    text = "".join(ch if not has_control_chars(ch) else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
