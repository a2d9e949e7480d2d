"""A Google service account key, for the OAuth 2.0 JWT bearer grant (RFC 7523).

Google Workspace has no password sign-in for unattended senders: a service account with
domain-wide delegation signs a short JWT (`iss` = its client_email, `sub` = the mailbox it
acts for, `scope` = https://mail.google.com/, `aud` = its token_uri) with its private key,
trades it at the token endpoint for an access token, and the relay takes that token with
AUTH XOAUTH2. The key file Google hands out is JSON; this module reads it, keeps what may
be shown (client_email, private_key_id, token_uri, client_id) apart from the private key
(a `Secret`), and holds the rule of where the key may sign.

How a profile uses it (Keyfactor's shapes have no field for a key): a type-3 profile whose
TokenEndpoint is the key's token_uri and whose ClientId is the key's client_id. Like a
stored client secret, the key is bound to what it was saved for: it signs only for that
token_uri and client_id, and its tokens go only to the relay (Host, Port, UseSSL) named
when it was uploaded. Pure: no I/O; `cryptography` only to check that the key loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smtp_profile.domain.addresses import AddressError, ascii_host, check_mailbox
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.json_text import parse_json
from smtp_profile.domain.oauth import OAuthSettingError, check_token_endpoint, endpoint_destination
from smtp_profile.domain.relay_options import TrustBinding
from smtp_profile.domain.secrets import Secret

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GMAIL_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
GMAIL_HOST = "smtp.gmail.com"
# Google accepts assertions that live at most an hour; a short one is worth less if copied.
ASSERTION_LIFETIME_SECONDS = 300
MIN_RSA_BITS = 2048
MAX_KEY_FILE_LENGTH = 16384
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,256}$")

# What Google's token endpoint answers for this grant, and what it means (its
# documentation "Using OAuth 2.0 for Server to Server Applications", error codes).
TOKEN_ERROR_HINTS = {
    "invalid_grant": "Google refused the signed assertion: the key may have been deleted "
    "or disabled in the Google Cloud console (upload a current key), this machine's clock "
    "may be off by minutes (the assertion's iat/exp), the mailbox (RelayUsername, else "
    "SenderAccount) may not be a user of the Workspace domain that granted delegation, or, "
    "for an OAuth app in Testing, its tokens expire after 7 days.",
    "unauthorized_client": "Domain-wide delegation is not granted for this client and "
    "scope: in the Google Admin console (Security > API controls > Domain-wide "
    "delegation) add the service account's client ID with the scope "
    "https://mail.google.com/, then wait a few minutes.",
    "invalid_client": "Google does not know this service account or key: check that the "
    "key file belongs to an existing, enabled service account.",
    "access_denied": "The Workspace administrator or a policy denied this access; check "
    "the domain-wide delegation entry and that the mailbox may use Gmail.",
    "invalid_scope": "Google refused the scope; the service account key signs for "
    f"{GMAIL_SCOPE} (the only scope Gmail's SMTP accepts).",
}


@dataclass(frozen=True)
class ServiceAccountKey:
    """What a service account key file says; only `private_key` is secret."""

    client_email: str
    private_key_id: str
    token_uri: str
    client_id: str
    private_key: Secret = field(repr=False)
    project_id: str | None = None


@dataclass(frozen=True)
class RelayBinding:
    """The relay a key's tokens may be sent to, as Keyfactor's profile names it."""

    host: str
    port: int
    use_ssl: bool


@dataclass(frozen=True)
class ServiceAccount:
    """A stored key, the relay it was saved for, and the relay checks then in force."""

    key: ServiceAccountKey
    relay: RelayBinding
    trust: TrustBinding | None = None

    def serves(self, token_endpoint: str | None, client_id: str | None) -> bool:
        """Whether a type-3 profile with these settings names this key."""
        if not token_endpoint or client_id != self.key.client_id:
            return False
        try:
            return endpoint_destination(token_endpoint) == endpoint_destination(
                self.key.token_uri)
        except (OAuthSettingError, AddressError, ValueError):
            return False

    def relay_changes(self, host: str | None, port: int, use_ssl: bool) -> list[str]:
        """The Keyfactor names of the relay fields that differ from the saved relay."""
        changed: list[str] = []
        if not host or _host_key(host) != _host_key(self.relay.host):
            changed.append("Host")
        if port != self.relay.port:
            changed.append("Port")
        if use_ssl != self.relay.use_ssl:
            changed.append("UseSSL")
        return changed


@dataclass(frozen=True)
class StoredServiceAccount:
    """The service account row: a key or none, with the version every write changes."""

    account: ServiceAccount | None
    version: int
    updated_at: datetime | None = None
    updated_by: str | None = None


def _host_key(host: str) -> str:
    try:
        return ascii_host(host)
    except AddressError:
        return host.lower()


def parse_key_file(text: str) -> ServiceAccountKey:
    """The key from a service account's JSON key file; ValidationFailed names every
    problem (never quoting the private key)."""
    if len(text) > MAX_KEY_FILE_LENGTH:
        raise ValidationFailed([f"KeyFile must be at most {MAX_KEY_FILE_LENGTH} characters"])
    try:
        data = parse_json(text, object_pairs_hook=_refuse_duplicates)
    except ValueError as exc:
        reason = str(exc) if isinstance(exc, _DuplicateKey) else "it is not valid JSON"
        raise ValidationFailed([f"KeyFile is not a service account key file: {reason}"]
                               ) from None
    if not isinstance(data, dict):
        raise ValidationFailed(["KeyFile must be a JSON object (a service account key file)"])
    problems: list[str] = []
    if data.get("type") != "service_account":
        problems.append('KeyFile: "type" must be "service_account" (download a key of a '
                        "service account, not an OAuth client's secret file)")
    client_email = _string(data, "client_email", problems)
    if client_email is not None:
        try:
            check_mailbox(client_email)
        except AddressError as exc:
            problems.append(f'KeyFile: "client_email" {exc}')
    private_key_id = _string(data, "private_key_id", problems)
    if private_key_id is not None and not _KEY_ID.match(private_key_id):
        problems.append('KeyFile: "private_key_id" must be letters, digits, - or _ '
                        "(at most 128)")
    client_id = _string(data, "client_id", problems)
    if client_id is not None and not _CLIENT_ID.match(client_id):
        problems.append('KeyFile: "client_id" must be letters, digits, ".", "-" or "_" '
                        "(at most 256)")
    token_uri = data.get("token_uri", GOOGLE_TOKEN_URI)
    if not isinstance(token_uri, str):
        problems.append('KeyFile: "token_uri" must be a string')
    else:
        try:
            check_token_endpoint(token_uri)
        except OAuthSettingError as exc:
            problems.append(f'KeyFile: "token_uri" {exc}')
    private_key = _string(data, "private_key", problems)
    if private_key is not None:
        _check_private_key(private_key, problems)
    project_id = data.get("project_id")
    if problems:
        raise ValidationFailed(problems)
    assert client_email is not None
    assert private_key_id is not None
    assert client_id is not None
    assert private_key is not None
    assert isinstance(token_uri, str)
    return ServiceAccountKey(
        client_email=client_email, private_key_id=private_key_id, token_uri=token_uri,
        client_id=client_id, private_key=Secret(private_key),
        project_id=project_id if isinstance(project_id, str) and len(project_id) <= 128
        and project_id.isprintable() else None)


def check_relay(host: str | None, port: int | None, use_ssl: bool | None,
                problems: list[str]) -> RelayBinding | None:
    """The relay a key is saved for, checked like the profile's Host and Port; TLS is
    required, since its access tokens are only ever sent encrypted."""
    if host is None or not host.strip():
        problems.append("Host is required")
        return None
    try:
        ascii_host(host)
    except AddressError as exc:
        problems.append(f"Host {exc}")
        return None
    if port is None or not 1 <= port <= 65535:
        problems.append(f"Port must be between 1 and 65535 (got {port})")
        return None
    if use_ssl is False:
        problems.append("UseSSL must be true: the access tokens this key buys are sent "
                        "only over TLS (STARTTLS on 587, implicit TLS on 465)")
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return RelayBinding(host, port, True)


def assertion_claims(key: ServiceAccountKey, subject: str, scope: str,
                     now: int) -> dict[str, Any]:
    """The claims of the signed assertion (RFC 7523 section 3, Google's field names)."""
    return {"iss": key.client_email, "sub": subject, "scope": scope,
            "aud": key.token_uri, "iat": now, "exp": now + ASSERTION_LIFETIME_SECONDS}


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateKey(f"the name {name[:40]!r} appears twice")
        result[name] = value
    return result


def _string(data: dict[str, Any], name: str, problems: list[str]) -> str | None:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        problems.append(f'KeyFile: "{name}" is required (a string)')
        return None
    return value


def _check_private_key(pem: str, problems: list[str]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa  # where used (architecture.md)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        problems.append('KeyFile: "private_key" is not an unencrypted PEM private key')
        return
    if not isinstance(key, rsa.RSAPrivateKey):
        problems.append('KeyFile: "private_key" must be an RSA key (Google signs RS256)')
    elif key.key_size < MIN_RSA_BITS:
        problems.append(f'KeyFile: "private_key" must have at least {MIN_RSA_BITS} bits')
