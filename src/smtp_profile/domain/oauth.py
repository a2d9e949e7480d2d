"""The OAuth 2.0 client-credentials settings of a relay: what may be stored and sent.

These rules keep the token request honest: the endpoint must be https (plain http only
to this machine), and the extra RequestHeaders can neither change how the request is
framed or routed nor smuggle a credential into a field that is stored and returned in
clear text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from smtp_profile.domain.addresses import AddressError, ascii_host, has_control_chars, ip_literal

MAX_CLIENT_ID_LENGTH = 256
MAX_TOKEN_ENDPOINT_LENGTH = 2048
MAX_SCOPE_LENGTH = 1024
MAX_AUDIENCE_LENGTH = 1024
MAX_REQUEST_HEADERS = 16
MAX_HEADER_NAME_LENGTH = 128
MAX_HEADER_VALUE_LENGTH = 1024

_DEFAULT_PORTS = {"https": 443, "http": 80}
# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")

# Headers this service sets itself or that change how the request is framed or routed.
_PROTOCOL_HEADERS = frozenset({
    "host", "content-type", "content-length", "transfer-encoding", "connection",
    "keep-alive", "te", "trailer", "upgrade", "expect", "proxy-connection",
})
# Headers that carry credentials: RequestHeaders are stored and returned in clear.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True)
class RequestHeader:
    """An extra HTTP header for the OAuth token request."""

    name: str
    value: str


class OAuthSettingError(ValueError):
    """Why an OAuth setting was refused; the text follows the field name."""


def check_token_endpoint(value: str) -> None:
    """Refuse what is not an https URL of a token endpoint (http only for loopback)."""
    if len(value) > MAX_TOKEN_ENDPOINT_LENGTH:
        raise OAuthSettingError(f"must be at most {MAX_TOKEN_ENDPOINT_LENGTH} characters")
    if has_control_chars(value) or any(ch.isspace() for ch in value):
        raise OAuthSettingError("must not contain spaces or control characters")
    parts = _split(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OAuthSettingError("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise OAuthSettingError(
            "must not contain a user name or password: it is stored and returned in clear; "
            "the client authenticates with ClientId and ClientSecret"
        )
    if parts.fragment:
        raise OAuthSettingError("must not have a #fragment")
    host = parts.hostname
    if not host:
        raise OAuthSettingError("must name a host, like https://login.example.com/token")
    try:
        ascii_host(host)
    except AddressError as exc:
        raise OAuthSettingError(f"has a host that {exc}") from None
    if scheme == "http" and not is_loopback_host(host):
        raise OAuthSettingError(
            "must be an https:// URL: the client secret is sent in it (http:// is allowed "
            "only for this machine: localhost, 127.0.0.1 or ::1)"
        )


def endpoint_destination(value: str) -> tuple[str, str, int, str, str]:
    """The parts of a checked endpoint that decide where a client secret goes.

    Spelling differences (case of scheme and host, a default port written out, an
    empty path) do not count as another destination.
    """
    parts = _split(value)
    scheme = parts.scheme.lower()
    host = ascii_host(parts.hostname or "")
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return (scheme, host, port, parts.path or "/", parts.query)


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: a plain-http endpoint there never leaves the machine."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    address = ip_literal(host)
    return address is not None and address.is_loopback


def check_request_headers(headers: tuple[RequestHeader, ...], field: str,
                          problems: list[str]) -> None:
    """Append a problem, naming the item, for every header that may not be sent."""
    if len(headers) > MAX_REQUEST_HEADERS:
        problems.append(f"{field} must have at most {MAX_REQUEST_HEADERS} items")
        return
    seen: set[str] = set()
    for index, header in enumerate(headers):
        where = f"{field}[{index}]"
        name = header.name
        if not name:
            problems.append(f"{where}.Name is required")
            continue
        if len(name) > MAX_HEADER_NAME_LENGTH or not _TOKEN.match(name):
            problems.append(
                f"{where}.Name must be an HTTP header name (letters, digits and "
                f"!#$%&'*+-.^_`|~, at most {MAX_HEADER_NAME_LENGTH} characters)"
            )
            continue
        key = name.lower()
        if key in seen:
            problems.append(f"{where}.Name {name!r} appears more than once")
        seen.add(key)
        if key in _PROTOCOL_HEADERS:
            problems.append(f"{where}.Name {name!r} is set by this service and cannot be "
                            "replaced")
        elif key in _CREDENTIAL_HEADERS:
            problems.append(
                f"{where}.Name {name!r} would carry a credential, but RequestHeaders are "
                "stored and returned in clear; the client authenticates with ClientId and "
                "ClientSecret (client_secret_post)"
            )
        if len(header.value) > MAX_HEADER_VALUE_LENGTH:
            problems.append(f"{where}.Value must be at most {MAX_HEADER_VALUE_LENGTH} "
                            "characters")
        elif not _PRINTABLE_ASCII.match(header.value):
            problems.append(f"{where}.Value must be printable ASCII, without line breaks or "
                            "other control characters")


def _split(value: str) -> SplitResult:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError as exc:
        raise OAuthSettingError(f"is not a valid URL ({exc})") from None
    return parts
