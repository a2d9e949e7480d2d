"""Who is calling, in which API version: the checks every Keyfactor route starts with.

Order matters and is fixed: the Keyfactor headers first (cheap, reveal nothing), then the
credentials (401), then the permission (403).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from smtp_profile.accounts import Principal
from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.secrets import Secret
from smtp_profile.runtime import Runtime

REQUESTED_WITH = "x-keyfactor-requested-with"
API_VERSION = "x-keyfactor-api-version"
REQUESTED_WITH_VALUES = ("APIClient", "XMLHttpRequest")
_VERSIONS = {"1": 1, "1.0": 1, "2": 2, "2.0": 2}


@dataclass(frozen=True)
class CallContext:
    principal: Principal
    version: int
    client: str

    @property
    def actor(self) -> Actor:
        return Actor(self.principal.name, self.client)


def client_address(request: Request) -> str:
    """The peer's address as the server saw it (forwarded headers are not trusted)."""
    return request.client.host if request.client else "unknown"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def check_requested_with(request: Request) -> None:
    value = request.headers.get(REQUESTED_WITH)
    if value is None or value.strip().lower() not in {v.lower() for v in REQUESTED_WITH_VALUES}:
        shown = "missing" if value is None else f"{value[:40]!r}"
        raise DomainError(
            ErrorKind.MISSING_REQUESTED_WITH,
            f"The header x-keyfactor-requested-with is {shown}; send "
            "'x-keyfactor-requested-with: APIClient' (or XMLHttpRequest).",
        )


def api_version(request: Request) -> int:
    value = request.headers.get(API_VERSION)
    if value is None:
        return 1
    version = _VERSIONS.get(value.strip())
    if version is None:
        raise DomainError(
            ErrorKind.BAD_API_VERSION,
            f"x-keyfactor-api-version {value[:20]!r} is not supported; use 1 or 2.",
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
    header = request.headers.get("authorization")
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
    domain, backslash, name = user.rpartition("\\")
    if backslash:
        if auth_domain is not None and domain.lower() != auth_domain.lower():
            return None
        user = name
    return user, Secret(password)


async def authenticate(request: Request) -> Principal:
    """The caller; presented but refused credentials are recorded in the audit trail.

    A request without an Authorization header is not an attempt and is not recorded
    (clients commonly send one only after the 401 challenge).
    """
    runtime = runtime_of(request)
    credentials = basic_credentials(request, runtime.settings.auth_domain)
    principal = None
    if credentials is not None:
        principal = await runtime.accounts.authenticate(*credentials)
    if principal is None:
        error = DomainError(ErrorKind.UNAUTHENTICATED,
                            "Authentication is required: send valid credentials with HTTP Basic.")
        if "authorization" in request.headers:
            await runtime.audit.record(
                action=AuditAction.FAILED_AUTHENTICATION, user=presented_user(request),
                client=client_address(request), outcome=Outcome.of_error(error),
                detail=f"{request.method} {request.url.path}",
            )
        raise error
    return principal


def requires(permission: Permission, *, audited: AuditAction | None = None,
             ) -> Callable[[Request], Awaitable[CallContext]]:
    """A FastAPI dependency: the Keyfactor headers, the caller, and `permission`.

    With `audited`, a caller refused for lack of the permission is recorded under that
    action (a read-only user trying a PUT is worth knowing about).
    """

    async def dependency(request: Request) -> CallContext:
        check_requested_with(request)
        version = api_version(request)
        principal = await authenticate(request)
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
        return CallContext(principal, version, client)

    return dependency
