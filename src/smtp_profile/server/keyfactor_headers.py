"""The Keyfactor headers every call carries: who is asking and in which API version.

`x-keyfactor-requested-with` is read in one place, `requested_with`: `APIClient` for API
clients, `XMLHttpRequest` for the web page. A cross-site form or link cannot send a custom
header, so the page's value is also what lets its session cookie count (see
server/authentication.py). `x-keyfactor-api-version` selects version 1 (the default) or 2.
"""

from __future__ import annotations

from enum import StrEnum

from starlette.requests import Request

from smtp_profile.domain.errors import DomainError, ErrorKind

REQUESTED_WITH = "x-keyfactor-requested-with"
API_VERSION = "x-keyfactor-api-version"


class RequestedWith(StrEnum):
    """The accepted values of x-keyfactor-requested-with (compared case-insensitively)."""

    API_CLIENT = "APIClient"
    PAGE = "XMLHttpRequest"


BROWSER_REQUESTED_WITH = RequestedWith.PAGE.value
_REQUESTED_WITH = {value.lower(): value for value in RequestedWith}
_VERSIONS = {"1": 1, "1.0": 1, "2": 2, "2.0": 2}


def requested_with(value: str | None) -> RequestedWith | None:
    """Who a header value says is asking; None when it is absent or not accepted."""
    return None if value is None else _REQUESTED_WITH.get(value.strip().lower())


def require_requested_with(request: Request) -> RequestedWith:
    """The API's check: either accepted value, else a 400 naming what was sent."""
    value = request.headers.get(REQUESTED_WITH)
    asking = requested_with(value)
    if asking is None:
        shown = "missing" if value is None else f"{value[:40]!r}"
        raise DomainError(
            ErrorKind.MISSING_REQUESTED_WITH,
            f"The header x-keyfactor-requested-with is {shown}; send "
            f"'x-keyfactor-requested-with: {RequestedWith.API_CLIENT}' "
            f"(or {RequestedWith.PAGE}).",
        )
    return asking


def require_page_header(request: Request, route: str) -> None:
    """The web page's routes' check: only the page's value, so that a cross-site form
    can neither sign a victim in to an attacker's account nor sign them out."""
    if requested_with(request.headers.get(REQUESTED_WITH)) is not RequestedWith.PAGE:
        raise DomainError(
            ErrorKind.MISSING_REQUESTED_WITH,
            f"{route} is for the web page: send "
            f"'x-keyfactor-requested-with: {RequestedWith.PAGE}'.",
        )


def version_of(value: str | None) -> int | None:
    """The API version a header value selects (absent: 1); None if unsupported."""
    return 1 if value is None else _VERSIONS.get(value.strip())


def api_version(request: Request) -> int:
    """The API version of this call, else a 400."""
    value = request.headers.get(API_VERSION)
    version = version_of(value)
    if version is None:
        raise DomainError(
            ErrorKind.BAD_API_VERSION,
            f"x-keyfactor-api-version {str(value)[:20]!r} is not supported; use 1 or 2.",
        )
    return version
