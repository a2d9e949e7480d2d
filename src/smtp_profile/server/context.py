"""Who is calling, in which API version: the checks every Keyfactor route starts with.

Order matters and is fixed: the Keyfactor headers first (cheap, reveal nothing), then the
credentials (401, or 429 while failed sign-ins must wait), then the permission (403).

Two kinds of credentials: HTTP Basic (API clients) and the web page's session cookie.
The cookie counts only on calls that carry `x-keyfactor-requested-with: XMLHttpRequest`,
a header a cross-site form or link cannot send: that, with `SameSite=Strict` and no CORS,
is the defence against cross-site request forgery. An Authorization header always wins.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import ProfileStamp, Snapshot
from smtp_profile.runtime import Runtime
from smtp_profile.usecases.accounts import Principal

REQUESTED_WITH = "x-keyfactor-requested-with"
API_VERSION = "x-keyfactor-api-version"
BROWSER_REQUESTED_WITH = "XMLHttpRequest"
REQUESTED_WITH_VALUES = ("APIClient", BROWSER_REQUESTED_WITH)
SESSION_COOKIE = "smtp_profile_session"
_VERSIONS = {"1": 1, "1.0": 1, "2": 2, "2.0": 2}
_REQUESTED_WITH_KEYS = frozenset(v.lower() for v in REQUESTED_WITH_VALUES)


@dataclass(frozen=True)
class CallContext:
    principal: Principal
    version: int
    client: str
    snapshot: Snapshot | None = None
    """The stored state read with the credentials (None for the web page's session)."""

    @property
    def profile_stamp(self) -> ProfileStamp | None:
        return None if self.snapshot is None else self.snapshot.profile_stamp

    @property
    def actor(self) -> Actor:
        return Actor(self.principal.name, self.client)


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or, when the peer is one of the
    --trusted-proxies, the right-most X-Forwarded-For address that is not itself a trusted
    proxy (uvicorn's proxy-headers middleware puts it in place of the peer)."""
    return request.client.host if request.client else "unknown"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def check_requested_with(request: Request) -> None:
    value = request.headers.get(REQUESTED_WITH)
    if not requested_with_ok(value):
        shown = "missing" if value is None else f"{value[:40]!r}"
        raise DomainError(
            ErrorKind.MISSING_REQUESTED_WITH,
            f"The header x-keyfactor-requested-with is {shown}; send "
            "'x-keyfactor-requested-with: APIClient' (or XMLHttpRequest).",
        )


def api_version(request: Request) -> int:
    value = request.headers.get(API_VERSION)
    version = version_of(value)
    if version is None:
        raise DomainError(
            ErrorKind.BAD_API_VERSION,
            f"x-keyfactor-api-version {str(value)[:20]!r} is not supported; use 1 or 2.",
        )
    return version


def presented_user(request: Request) -> str | None:
    """The user name in an Authorization header, as sent, for the audit trail only."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, ValueError):
        return None
    return user or None


def basic_credentials(request: Request, auth_domain: str | None) -> tuple[str, Secret] | None:
    """(user, password) from `Authorization: Basic`, with any `DOMAIN\\` prefix handled."""
    return parse_basic(request.headers.get("authorization"), auth_domain)


def parse_basic(header: str | None, auth_domain: str | None) -> tuple[str, Secret] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    login = login_name(user, auth_domain)
    return None if login is None else (login, Secret(password))


def requested_with_ok(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _REQUESTED_WITH_KEYS


def version_of(value: str | None) -> int | None:
    """The API version a header value selects (absent: 1); None if unsupported."""
    return 1 if value is None else _VERSIONS.get(value.strip())


def login_name(user: str, auth_domain: str | None) -> str | None:
    """The local user name in `user` or `DOMAIN\\user`; None for a domain not accepted."""
    domain, backslash, name = user.rpartition("\\")
    if not backslash:
        return user
    if auth_domain is not None and domain.lower() != auth_domain.lower():
        return None
    return name


def is_browser_call(request: Request) -> bool:
    """A call from the web page: requested-with XMLHttpRequest and no Authorization."""
    value = request.headers.get(REQUESTED_WITH, "")
    return (value.strip().lower() == BROWSER_REQUESTED_WITH.lower()
            and "authorization" not in request.headers)


async def authenticate(request: Request) -> Principal:
    """The caller; presented but refused credentials are recorded in the audit trail.

    A request without an Authorization header is not an attempt and is not recorded
    (clients commonly send one only after the 401 challenge).
    """
    return (await admit(request))[0]


async def admit(request: Request) -> tuple[Principal, Snapshot | None]:
    """The caller, and the stored state when it was read along with the credentials."""
    runtime = runtime_of(request)
    if "authorization" in request.headers:
        credentials = basic_credentials(request, runtime.settings.auth_domain)
        if credentials is None:
            error = DomainError(ErrorKind.UNAUTHENTICATED,
                                "Authentication is required: send valid credentials with "
                                "HTTP Basic.")
            await runtime.sign_in.unreadable(
                presented_user(request), client_address(request),
                f"unreadable credentials on {request.method} {request.url.path}", error)
            raise error
        admission = await runtime.sign_in.admit(
            *credentials, client=client_address(request),
            channel=f"basic {request.method} {request.url.path}")
        return admission.principal, admission.snapshot
    token = request.cookies.get(SESSION_COOKIE)
    if token and is_browser_call(request):
        active = await runtime.sessions.resolve(token)
        if active is None:
            raise DomainError(ErrorKind.UNAUTHENTICATED,
                              "Your session has ended or is not valid; sign in again.")
        return active.principal, None
    hint = (" A session cookie counts only with 'x-keyfactor-requested-with: XMLHttpRequest'."
            if token else "")
    raise DomainError(ErrorKind.UNAUTHENTICATED,
                      "Authentication is required: send valid credentials with HTTP Basic "
                      f"or sign in on the web page.{hint}")


def requires(permission: Permission, *, audited: AuditAction | None = None,
             ) -> Callable[[Request], Awaitable[CallContext]]:
    """A FastAPI dependency: the Keyfactor headers, the caller, and `permission`.

    With `audited`, a caller refused for lack of the permission is recorded under that
    action (a read-only user trying a PUT is worth knowing about).
    """

    async def dependency(request: Request) -> CallContext:
        check_requested_with(request)
        version = api_version(request)
        principal, snapshot = await admit(request)
        client = client_address(request)
        if not principal.may(permission):
            error = DomainError(
                ErrorKind.FORBIDDEN,
                f"User '{principal.name}' does not have the permission {permission.value}.",
            )
            if audited is not None:
                await runtime_of(request).audit.record(
                    action=audited, user=principal.name, client=client,
                    outcome=Outcome.of_error(error),
                )
            raise error
        return CallContext(principal, version, client, snapshot)

    return dependency
