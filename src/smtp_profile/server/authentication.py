"""Who is calling: the one place a request becomes a principal, for the API and the page.

Each way of presenting credentials is a scheme in `SCHEMES`; the first that claims a
request authenticates it, and a 401 challenges with every scheme offered to that caller.
A new scheme (bearer tokens, say) is one class with the four members of `Scheme`,
added to that list ahead of any scheme that would also claim its requests.

- HTTP Basic (API clients) claims every request with an Authorization header, so
  credentials it cannot read are a refusal, recorded in the audit trail (bounded), not a
  request without credentials. A request with no Authorization header is not an attempt
  and is not recorded (clients commonly send one only after the 401 challenge).
- The web page's session cookie counts only on calls that carry
  `x-keyfactor-requested-with: XMLHttpRequest` and no Authorization header, a header a
  cross-site form or link cannot send: that, with `SameSite=Strict` and no CORS, is the
  defence against cross-site request forgery. Its 401 challenge is `Session`, never
  `Basic`, so the browser never opens its own password dialog.

- Bearer tokens (`Authorization: Bearer`, from the operator's OpenID Connect identity
  provider) are claimed only when a provider is configured; checked by the bearer
  use case (usecases/bearer.py). A refused token's 401 challenges with RFC 6750's
  `Bearer error="invalid_token", error_description="..."`.
- The operator can switch Basic off (`--no-basic-auth`): Basic credentials are then
  refused with a 401 that challenges for Bearer only.

Refused passwords are counted, throttled (429 with Retry-After) and audited by the
sign-in use case (usecases/signin.py), one throttle for Basic and the page's form alike.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import Snapshot
from smtp_profile.runtime import Runtime
from smtp_profile.server.keyfactor_headers import REQUESTED_WITH, RequestedWith, requested_with
from smtp_profile.server.request_state import client_address, runtime_of
from smtp_profile.usecases.accounts import Principal
from smtp_profile.usecases.bearer import TokenRefused

SESSION_COOKIE = "smtp_profile_session"
BASIC_CHALLENGE = 'Basic realm="smtp-profile", charset="UTF-8"'
SESSION_CHALLENGE = 'Session realm="smtp-profile"'
BEARER_CHALLENGE = 'Bearer realm="smtp-profile"'


@dataclass(frozen=True)
class Authenticated:
    """A caller, and what was read along with the credentials."""

    principal: Principal
    snapshot: Snapshot | None = None
    """The stored state read with a password (None for the web page's session)."""
    expires_at: datetime | None = None
    """When the web page's session ends unless used again (None for other schemes)."""
    ends_by: datetime | None = None
    """When the web page's session ends however much it is used (None for other schemes)."""


class Scheme(Protocol):
    """One way of presenting credentials."""

    challenge: str
    """The WWW-Authenticate challenge that asks for this scheme's credentials."""

    def claims(self, request: Request) -> bool:
        """Whether the request presents this scheme's credentials."""

    def offered_to(self, request: Request) -> bool:
        """Whether a 401 to this request challenges for this scheme."""

    def ignored(self, request: Request) -> str:
        """Why credentials of this scheme the request carries did not count ("" if none)."""

    async def authenticate(self, request: Request, runtime: Runtime) -> Authenticated:
        """The caller, for a request this scheme claims; raises DomainError
        (UNAUTHENTICATED, or Throttled while failed sign-ins must wait)."""


@dataclass(frozen=True)
class BasicCredentials:
    """An `Authorization: Basic` header, decoded."""

    user: str
    """The user name as sent, `DOMAIN\\` prefix or `@domain` suffix included."""
    password: Secret | None
    """None when the decoded text has no colon: not a credential, only a name."""


def decode_basic(header: str | None) -> BasicCredentials | None:
    """The one Basic decoder; None for another scheme or text that is not base64 UTF-8."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return BasicCredentials(user, Secret(password) if colon else None)


def login_name(user: str, auth_domain: str | None) -> str | None:
    """The local user name in `user`, `DOMAIN\\user` or `user@domain` (what Keyfactor's
    Go SDK 1.x and Python client send); None for a domain not accepted, or an `@` form
    with an empty part or a second `@`. One domain rule for both forms."""
    domain, backslash, name = user.rpartition("\\")
    if not backslash:
        name, at, domain = user.partition("@")
        if not at:
            return user
        if not name or not domain or "@" in domain:
            return None
    if auth_domain is not None and domain.lower() != auth_domain.lower():
        return None
    return name


def basic_login(header: str | None, auth_domain: str | None) -> tuple[str, Secret] | None:
    """(local user name, password) from an Authorization header; None if it holds none
    this service could accept."""
    credentials = decode_basic(header)
    if credentials is None or credentials.password is None:
        return None
    name = login_name(credentials.user, auth_domain)
    return None if name is None else (name, credentials.password)


def is_browser_call(request: Request) -> bool:
    """A call from the web page: requested-with XMLHttpRequest and no Authorization."""
    return (requested_with(request.headers.get(REQUESTED_WITH)) is RequestedWith.PAGE
            and "authorization" not in request.headers)


def session_cookie(headers: Headers) -> str | None:
    """The session cookie's value as `Request.cookies` reads it (the last of every
    Cookie header wins), for whoever has headers but no request."""
    cookies: dict[str, str] = {}
    for header in headers.getlist("cookie"):
        cookies.update(cookie_parser(header))
    return cookies.get(SESSION_COOKIE)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for another scheme."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _quoted(text: str) -> str:
    """Text safe inside a quoted-string of a challenge (RFC 6750's error_description
    allows printable ASCII but `"` and `\\`)."""
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


class BearerToken:
    """`Authorization: Bearer`, when the operator configured an identity provider."""

    challenge = BEARER_CHALLENGE

    def claims(self, request: Request) -> bool:
        return (runtime_of(request).bearer is not None
                and bearer_token(request.headers.get("authorization")) is not None)

    def offered_to(self, request: Request) -> bool:
        return runtime_of(request).bearer is not None and not is_browser_call(request)

    def ignored(self, request: Request) -> str:
        return ""

    async def authenticate(self, request: Request, runtime: Runtime) -> Authenticated:
        assert runtime.bearer is not None  # claims() said so
        token = bearer_token(request.headers.get("authorization")) or ""
        try:
            caller = await runtime.bearer.admit(
                token, client=client_address(request),
                channel=f"bearer {request.method} {request.url.path}")
        except TokenRefused as refused:
            request.state.bearer_error = _quoted(refused.reason)
            raise
        return Authenticated(caller.principal)


def basic_allowed(request: Request) -> bool:
    return runtime_of(request).settings.basic_auth


class HttpBasic:
    """`Authorization: Basic`, checked by the sign-in use case (counted, throttled,
    audited); claims any Authorization header, so it stays last of those that read one."""

    challenge = BASIC_CHALLENGE

    def claims(self, request: Request) -> bool:
        return "authorization" in request.headers

    def offered_to(self, request: Request) -> bool:
        return basic_allowed(request) and not is_browser_call(request)

    def ignored(self, request: Request) -> str:
        return ""

    async def authenticate(self, request: Request, runtime: Runtime) -> Authenticated:
        if not runtime.settings.basic_auth:
            raise DomainError(ErrorKind.UNAUTHENTICATED,
                              "HTTP Basic is switched off on this service; send a bearer "
                              "token from its identity provider.")
        header = request.headers.get("authorization")
        login = basic_login(header, runtime.settings.auth_domain)
        client = client_address(request)
        if login is None:
            error = DomainError(ErrorKind.UNAUTHENTICATED,
                                "Authentication is required: send valid credentials with "
                                "HTTP Basic.")
            presented = decode_basic(header)
            await runtime.sign_in.unreadable(
                (presented.user or None) if presented else None, client,
                f"unreadable credentials on {request.method} {request.url.path}", error)
            raise error
        admission = await runtime.sign_in.admit(
            *login, client=client, channel=f"basic {request.method} {request.url.path}")
        return Authenticated(admission.principal, admission.snapshot)


class PageSession:
    """The web page's session cookie, on the page's own calls only."""

    challenge = SESSION_CHALLENGE

    def claims(self, request: Request) -> bool:
        return bool(request.cookies.get(SESSION_COOKIE)) and is_browser_call(request)

    def offered_to(self, request: Request) -> bool:
        return is_browser_call(request)

    def ignored(self, request: Request) -> str:
        if not request.cookies.get(SESSION_COOKIE):
            return ""
        return (f" A session cookie counts only with "
                f"'x-keyfactor-requested-with: {RequestedWith.PAGE}'.")

    async def authenticate(self, request: Request, runtime: Runtime) -> Authenticated:
        active = await runtime.sessions.resolve(request.cookies[SESSION_COOKIE])
        if active is None:
            raise DomainError(ErrorKind.UNAUTHENTICATED,
                              "Your session has ended or is not valid; sign in again.")
        return Authenticated(active.principal, expires_at=active.expires_at,
                             ends_by=active.ends_by)


SCHEMES: tuple[Scheme, ...] = (BearerToken(), HttpBasic(), PageSession())
"""Every sign-in scheme, in the order they are asked whether they claim a request."""


async def authenticate(request: Request) -> Authenticated:
    """The caller, by the first scheme that claims the request; else a 401."""
    for scheme in SCHEMES:
        if scheme.claims(request):
            return await scheme.authenticate(request, runtime_of(request))
    hints = "".join(scheme.ignored(request) for scheme in SCHEMES)
    ways = [way for way, offered in (("HTTP Basic", basic_allowed(request)),
                                     ("a bearer token", runtime_of(request).bearer is not None))
            if offered]
    offered = " or ".join(ways) + ("," if len(ways) > 1 else "")
    raise DomainError(ErrorKind.UNAUTHENTICATED,
                      f"Authentication is required: send valid credentials with {offered} "
                      f"or sign in on the web page.{hints}" if ways else
                      f"Authentication is required: sign in on the web page.{hints}")


def challenge(request: Request) -> str:
    """The WWW-Authenticate value of a 401 to this request; a refused bearer token's
    challenge says why (RFC 6750 section 3)."""
    refused = getattr(request.state, "bearer_error", None)
    return ", ".join(
        f'{BEARER_CHALLENGE}, error="invalid_token", error_description="{refused}"'
        if scheme.challenge == BEARER_CHALLENGE and refused is not None else scheme.challenge
        for scheme in SCHEMES if scheme.offered_to(request))
