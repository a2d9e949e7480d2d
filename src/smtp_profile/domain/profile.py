"""The SMTP profile, the rules a new version must satisfy, and where its secrets may go.

A profile arrives as a `ProfileDraft` (what a client sent, already of the right JSON types)
and becomes a `Profile` only through `build_profile`, which validates every field and
decides whether a stored secret may be reused. The reuse rule is the heart of the service:
clients never get the password back, so they cannot resend it, yet a stored password must
never be sent anywhere but the destination it was saved for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

from smtp_profile.domain.addresses import AddressError, ascii_host, check_mailbox, has_control_chars
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.secrets import Secret

PROFILE_ID = 1
DEFAULT_PORT = 25
IMPLICIT_TLS_PORTS = frozenset({465})
MAX_NAME_LENGTH = 256
MAX_USERNAME_LENGTH = 256
MAX_SECRET_LENGTH = 4096


class TlsMode(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    IMPLICIT = "implicit"


class AuthType(IntEnum):
    """RelayAuthenticationType values this service implements."""

    ANONYMOUS = 0
    BASIC = 2
    OAUTH = 3


# Values Keyfactor's enum allows but whose meaning is unpublished or not built here.
_UNSUPPORTED_AUTH = {
    1: "RelayAuthenticationType 1 is not supported: its meaning is not published by "
    "Keyfactor. Use 0 (Anonymous) or 2 (Basic).",
    3: "RelayAuthenticationType 3 (OAuth client credentials) is not supported yet. "
    "Use 0 (Anonymous) or 2 (Basic).",
    4: "RelayAuthenticationType 4 is not supported: its meaning is not published by "
    "Keyfactor. Use 0 (Anonymous) or 2 (Basic).",
}


@dataclass(frozen=True)
class RequestHeader:
    """An extra HTTP header for the OAuth token request."""

    name: str
    value: str


@dataclass(frozen=True)
class Profile:
    """The stored outgoing-mail settings: exactly one exists, with Id 1."""

    host: str | None = None
    port: int = DEFAULT_PORT
    auth_type: AuthType = AuthType.ANONYMOUS
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    sender_account: str | None = None
    sender_name: str | None = None
    use_ssl: bool = False
    client_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    token_endpoint: str | None = None
    scope: str | None = None
    audience: str | None = None
    request_headers: tuple[RequestHeader, ...] | None = None
    id: int = PROFILE_ID

    def tls_mode(self, implicit_ports: frozenset[int] = IMPLICIT_TLS_PORTS) -> TlsMode:
        """UseSSL on an implicit-TLS port (465) means TLS from the first byte; elsewhere
        it means STARTTLS, which must then be offered. Keyfactor has only one boolean."""
        if not self.use_ssl:
            return TlsMode.NONE
        return TlsMode.IMPLICIT if self.port in implicit_ports else TlsMode.STARTTLS

    @property
    def has_password(self) -> bool:
        return self.password is not None


@dataclass(frozen=True)
class ProfileDraft:
    """What a client submitted, typed but not yet validated.

    `None` means "not sent or null". For secrets that is the signal to keep the stored
    value, when the destination it is bound to has not changed.
    """

    host: str | None = None
    port: int | None = None
    auth_type: int | None = None
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    sender_account: str | None = None
    sender_name: str | None = None
    use_ssl: bool | None = None
    profile_id: int | None = None
    client_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    token_endpoint: str | None = None
    scope: str | None = None
    audience: str | None = None
    request_headers: tuple[RequestHeader, ...] | None = None


# The fields a stored password is bound to, in the order they are reported, with the
# Keyfactor name a client would recognise.
_PASSWORD_BINDING = (
    ("host", "Host"),
    ("port", "Port"),
    ("use_ssl", "UseSSL"),
    ("auth_type", "RelayAuthenticationType"),
    ("username", "RelayUsername"),
)


def password_destination(profile: Profile) -> tuple[object, ...]:
    """Where a password may be sent: comparing two of these decides reuse."""
    host = ascii_host(profile.host) if profile.host else None
    return (host, profile.port, profile.use_ssl, profile.auth_type, profile.username)


def build_profile(draft: ProfileDraft, stored: Profile) -> Profile:
    """Validate `draft` and resolve its secrets against `stored`.

    Raises ValidationFailed naming every bad field, or a DomainError when a secret
    must be re-entered. Used for PUT (the result is stored) and for Test (the result is
    only sent to).
    """
    problems: list[str] = []
    if draft.profile_id is not None and draft.profile_id != PROFILE_ID:
        problems.append(f"Id must be {PROFILE_ID}: exactly one SMTP profile exists")
    host = _required_host(draft.host, problems)
    port = _port(draft.port, problems)
    auth_type = _auth_type(draft.auth_type, problems)
    sender_account = _mailbox("SenderAccount", draft.sender_account, problems, required=True)
    sender_name = _text("SenderName", draft.sender_name, problems, required=True)
    use_ssl = bool(draft.use_ssl)
    username: str | None = None
    if auth_type is AuthType.BASIC:
        username = _text("RelayUsername", draft.username, problems, required=True,
                         max_length=MAX_USERNAME_LENGTH)
        if draft.password is not None:
            _secret_text("RelayPassword", draft.password, problems)
    if problems:
        raise ValidationFailed(problems)
    assert auth_type is not None  # problems would be non-empty otherwise
    candidate = Profile(
        host=host,
        port=port,
        auth_type=auth_type,
        username=username,
        sender_account=sender_account,
        sender_name=sender_name,
        use_ssl=use_ssl,
    )
    if auth_type is AuthType.BASIC:
        password = draft.password
        if password is None:
            password = _reusable_password(candidate, stored)
        candidate = replace(candidate, password=password)
    return candidate


def check_recipient(recipient: str | None) -> str:
    """The TestRecipient, validated; raises ValidationFailed otherwise."""
    problems: list[str] = []
    value = _mailbox("TestRecipient", recipient, problems, required=True)
    if problems or value is None:
        raise ValidationFailed(problems)
    return value


def changed_binding_fields(new: Profile, stored: Profile) -> list[str]:
    """The Keyfactor names of the destination fields that differ between two profiles."""
    new_dest = password_destination(new)
    old_dest = password_destination(stored)
    return [
        wire_name
        for (_, wire_name), a, b in zip(_PASSWORD_BINDING, new_dest, old_dest, strict=True)
        if a != b
    ]


def _reusable_password(candidate: Profile, stored: Profile) -> Secret:
    if stored.password is None or stored.auth_type is not AuthType.BASIC:
        raise ValidationFailed(
            ["RelayPassword is required when RelayAuthenticationType is 2 (Basic) "
             "and no password is stored"]
        )
    changed = changed_binding_fields(candidate, stored)
    if changed:
        raise DomainError(
            ErrorKind.SECRET_REENTRY_REQUIRED,
            f"RelayPassword must be re-entered because {_join(changed)} changed since the "
            "password was saved: a stored password is only ever sent to the server it was "
            "saved for.",
        )
    return stored.password


def _join(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _required_host(value: str | None, problems: list[str]) -> str | None:
    if value is None or not value.strip():
        problems.append("Host is required")
        return None
    try:
        ascii_host(value)
    except AddressError as exc:
        problems.append(f"Host {exc}")
        return None
    return value[1:-1] if value.startswith("[") and value.endswith("]") else value


def _port(value: int | None, problems: list[str]) -> int:
    if value is None:
        problems.append("Port is required")
        return DEFAULT_PORT
    if not 1 <= value <= 65535:
        problems.append(f"Port must be between 1 and 65535 (got {value})")
    return value


def _auth_type(value: int | None, problems: list[str]) -> AuthType | None:
    raw = AuthType.ANONYMOUS.value if value is None else value
    if raw in _UNSUPPORTED_AUTH:
        raise DomainError(ErrorKind.UNSUPPORTED_AUTH_TYPE, _UNSUPPORTED_AUTH[raw])
    try:
        auth_type = AuthType(raw)
    except ValueError:
        problems.append(
            f"RelayAuthenticationType must be 0 (Anonymous) or 2 (Basic) (got {raw})"
        )
        return None
    return auth_type


def _mailbox(name: str, value: str | None, problems: list[str], *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            problems.append(f"{name} is required")
        return None
    try:
        check_mailbox(value)
    except AddressError as exc:
        problems.append(f"{name} {exc}")
        return None
    return value


def _text(
    name: str,
    value: str | None,
    problems: list[str],
    *,
    required: bool,
    max_length: int = MAX_NAME_LENGTH,
) -> str | None:
    if value is None or not value.strip():
        if required:
            problems.append(f"{name} is required")
        return None
    if has_control_chars(value):
        problems.append(f"{name} must not contain line breaks or other control characters")
        return None
    if len(value) > max_length:
        problems.append(f"{name} must be at most {max_length} characters")
        return None
    return value


def _secret_text(name: str, secret: Secret, problems: list[str]) -> None:
    value = secret.reveal()
    if has_control_chars(value):
        problems.append(f"{name} must not contain line breaks or other control characters")
    elif len(value) > MAX_SECRET_LENGTH:
        problems.append(f"{name} must be at most {MAX_SECRET_LENGTH} characters")
