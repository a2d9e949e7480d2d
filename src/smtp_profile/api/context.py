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
    runtime = runtime_of(request)
    credentials = basic_credentials(request, runtime.settings.auth_domain)
    principal = None
    if credentials is not None:
        principal = await runtime.accounts.authenticate(*credentials)
    if principal is None:
        raise DomainError(ErrorKind.UNAUTHENTICATED,
                          "Authentication is required: send valid credentials with HTTP Basic.")
    return principal


def requires(permission: Permission) -> Callable[[Request], Awaitable[CallContext]]:
    """A FastAPI dependency: the Keyfactor headers, the caller, and `permission`."""

    async def dependency(request: Request) -> CallContext:
        check_requested_with(request)
        version = api_version(request)
        principal = await authenticate(request)
        if not principal.may(permission):
            raise DomainError(
                ErrorKind.FORBIDDEN,
                f"User '{principal.name}' does not have the permission {permission.value}.",
            )
        client = request.client.host if request.client else "unknown"
        return CallContext(principal, version, client)

    return dependency
