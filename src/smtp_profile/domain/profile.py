"""The SMTP profile, the rules a new version must satisfy, and where its secrets may go.

A profile arrives as a `ProfileDraft` (what a client sent, already of the right JSON types)
and becomes a `Profile` only through `build_profile`, which validates every field and
decides whether a stored secret may be reused. The reuse rule is the heart of the service:
clients never get the password (or OAuth client secret) back, so they cannot resend it, yet
a stored secret must never be sent anywhere but the destination it was saved for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

from smtp_profile.domain.addresses import (
    AddressError,
    ascii_host,
    check_display_name,
    check_mailbox,
    has_control_chars,
)
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.oauth import (
    MAX_AUDIENCE_LENGTH,
    MAX_CLIENT_ID_LENGTH,
    MAX_SCOPE_LENGTH,
    OAuthSettingError,
    check_request_headers,
    check_token_endpoint,
    endpoint_destination,
)
from smtp_profile.domain.oauth import RequestHeader as RequestHeader  # re-exported
from smtp_profile.domain.oauth_credential import CertificateCredential
from smtp_profile.domain.relay_options import DEFAULT_TRUST, TrustBinding
from smtp_profile.domain.secret_reference import SecretReference
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.service_account import ServiceAccount

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


_AUTH_CHOICES = "0 (Anonymous), 2 (Basic) or 3 (OAuth client credentials)"

# Values Keyfactor's enum allows but whose meaning is unpublished.
_UNSUPPORTED_AUTH = {
    1: "RelayAuthenticationType 1 is not supported: its meaning is not published by "
    f"Keyfactor. Use {_AUTH_CHOICES}.",
    4: "RelayAuthenticationType 4 is not supported: its meaning is not published by "
    f"Keyfactor. Use {_AUTH_CHOICES}.",
}


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
    secret_trust: TrustBinding | None = None
    """The relay options' certificate checks when the stored secret was entered."""
    id: int = PROFILE_ID
    service_account: ServiceAccount | None = field(default=None, repr=False, compare=False)
    """The Google service account key that signs this type-3 profile's token requests
    (JWT bearer grant instead of a client secret); attached for a test, never stored
    with the profile (see domain/service_account.py)."""
    username_ref: SecretReference | None = None
    password_ref: SecretReference | None = None
    client_id_ref: SecretReference | None = None
    client_secret_ref: SecretReference | None = None
    """Credentials that live in a PAM provider: the reference replaces the value, which
    is fetched when a test needs it and never stored (see domain/pam.py)."""

    @property
    def references(self) -> dict[str, SecretReference]:
        """The credentials that come from a PAM provider, by their Keyfactor names."""
        named = (("RelayUsername", self.username_ref), ("RelayPassword", self.password_ref),
                 ("ClientId", self.client_id_ref), ("ClientSecret", self.client_secret_ref))
        return {name: ref for name, ref in named if ref is not None}

    def tls_mode(self, implicit_ports: frozenset[int] = IMPLICIT_TLS_PORTS) -> TlsMode:
        """UseSSL on an implicit-TLS port (465) means TLS from the first byte; elsewhere
        it means STARTTLS, which must then be offered. Keyfactor has only one boolean."""
        if not self.use_ssl:
            return TlsMode.NONE
        return TlsMode.IMPLICIT if self.port in implicit_ports else TlsMode.STARTTLS

    @property
    def sasl_user(self) -> str:
        """Who an OAuth token authenticates as: RelayUsername if set, else SenderAccount."""
        return self.username or self.sender_account or ""


@dataclass(frozen=True)
class ProfileDraft:
    """What a client submitted, typed but not yet validated.

    `None` means "not sent or null". For secrets that is the signal to keep the stored
    value, when the destination it is bound to has not changed.

    `carries_oauth` is False for version 1 of the API, which has no OAuth fields: a
    type-3 draft then keeps the stored OAuth settings instead of clearing them.
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
    carries_oauth: bool = True
    username_ref: SecretReference | None = None
    password_ref: SecretReference | None = None
    client_id_ref: SecretReference | None = None
    client_secret_ref: SecretReference | None = None


# The fields a stored password is bound to, in the order they are reported, with the
# Keyfactor name a client would recognise.
_PASSWORD_BINDING = (
    ("host", "Host"),
    ("port", "Port"),
    ("use_ssl", "UseSSL"),
    ("auth_type", "RelayAuthenticationType"),
    ("username", "RelayUsername"),
    ("username_ref", "RelayUsername"),
)

# The client secret is posted to TokenEndpoint with ClientId; the token it buys is sent to
# Host:Port. Changing any of them must not reuse the stored secret, or a Test could post
# it to another endpoint, or hand a token bought with it to another server.
_CLIENT_SECRET_BINDING = (
    ("token_endpoint", "TokenEndpoint"),
    ("client_id", "ClientId"),
    ("client_id_ref", "ClientId"),
    ("host", "Host"),
    ("port", "Port"),
    ("use_ssl", "UseSSL"),
    ("auth_type", "RelayAuthenticationType"),
)


def _destination(profile: Profile, binding: tuple[tuple[str, str], ...]) -> tuple[object, ...]:
    values: list[object] = []
    for attribute, _ in binding:
        value = getattr(profile, attribute)
        if attribute == "host" and value:
            value = ascii_host(value)
        elif attribute == "token_endpoint" and value:
            value = endpoint_destination(value)
        values.append(value)
    return tuple(values)


def build_profile(draft: ProfileDraft, stored: Profile,
                  trust: TrustBinding = DEFAULT_TRUST,
                  certificate: CertificateCredential | None = None, *,
                  service_account: ServiceAccount | None = None) -> Profile:
    """Validate `draft` and resolve its secrets against `stored`.

    Raises ValidationFailed naming every bad field, or a DomainError when a secret
    must be re-entered. Used for PUT (the result is stored) and for Test (the result is
    only sent to). Each authentication type keeps only the settings it uses: switching
    away from a type erases its secrets. A secret in `draft` is bound to `trust` (the
    relay options' checks now); a reused one keeps the binding it was stored with.
    A type-3 draft needs no ClientSecret when `certificate` (the OAuth certificate
    credential, domain/oauth_credential.py) is bound to its TokenEndpoint, ClientId and relay.
    A type-3 draft whose TokenEndpoint and ClientId name the stored `service_account`
    needs no ClientSecret (and may not carry one): the key signs its token requests.
    """
    problems: list[str] = []
    if draft.profile_id is not None and draft.profile_id != PROFILE_ID:
        problems.append(f"Id must be {PROFILE_ID}: exactly one SMTP profile exists")
    host = _required_host(draft.host, problems)
    port = _port(draft.port, problems)
    auth_type = _auth_type(draft.auth_type, problems)
    sender_account = _mailbox("SenderAccount", draft.sender_account, problems, required=True)
    sender_name = _display_name("SenderName", draft.sender_name, problems)
    use_ssl = bool(draft.use_ssl)
    username: str | None = None
    username_ref: SecretReference | None = None
    if auth_type is AuthType.BASIC:
        username_ref = _username_reference(draft, stored, auth_type)
        username = _text("RelayUsername", draft.username, problems,
                         required=username_ref is None, max_length=MAX_USERNAME_LENGTH)
        if draft.password is not None:
            _secret_text("RelayPassword", draft.password, problems)
    oauth = _NO_OAUTH
    if auth_type is AuthType.OAUTH:
        username_ref = _username_reference(draft, stored, auth_type)
        username = _text("RelayUsername", draft.username, problems, required=False,
                         max_length=MAX_USERNAME_LENGTH)
        if not draft.carries_oauth:
            draft = _with_stored_oauth(draft, stored)
        oauth = _oauth_settings(draft, problems)
    if username is not None:
        username_ref = None
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
        client_id=oauth.client_id,
        token_endpoint=oauth.token_endpoint,
        scope=oauth.scope,
        audience=oauth.audience,
        request_headers=oauth.request_headers,
        username_ref=username_ref,
        client_id_ref=oauth.client_id_ref,
    )
    if auth_type is AuthType.BASIC:
        password, password_ref = draft.password, draft.password_ref
        if password is None and password_ref is None:
            password, password_ref = _reusable_password(candidate, stored)
            bound = stored.secret_trust
        else:
            bound = trust
            if password is not None:
                password_ref = None
        candidate = replace(candidate, password=password, password_ref=password_ref,
                            secret_trust=bound)
    if auth_type is AuthType.OAUTH and service_account is not None and service_account.serves(
            candidate.token_endpoint, candidate.client_id):
        if draft.client_secret is not None or draft.client_secret_ref is not None:
            raise ValidationFailed([
                "ClientSecret must be empty: TokenEndpoint and ClientId name the stored "
                "service account key (GET /SMTP/OAuth/ServiceAccount), which signs the "
                "token requests instead"])
        check_service_account_relay(candidate, service_account)
        return candidate
    if auth_type is AuthType.OAUTH:
        client_secret, client_secret_ref = draft.client_secret, draft.client_secret_ref
        if client_secret is None and client_secret_ref is None:
            bound = stored.secret_trust
            try:
                client_secret, client_secret_ref = _reusable_client_secret(
                    candidate, stored, version_1=not draft.carries_oauth)
            except DomainError:
                if certificate is None or not certificate_bound(certificate, candidate):
                    raise
                client_secret, client_secret_ref, bound = None, None, None
        else:
            bound = trust
            if client_secret is not None:
                client_secret_ref = None
        candidate = replace(candidate, client_secret=client_secret,
                            client_secret_ref=client_secret_ref, secret_trust=bound)
    return candidate


def _username_reference(draft: ProfileDraft, stored: Profile,
                        auth_type: AuthType) -> SecretReference | None:
    """The username's reference: the draft's, or, for a version-1 draft (which cannot
    carry one and shows none) without a username, the stored one of the same type."""
    if draft.username_ref is not None:
        return draft.username_ref
    if (not draft.carries_oauth and not (draft.username or "").strip()
            and stored.auth_type is auth_type):
        return stored.username_ref
    return None


def build_replacement(draft: ProfileDraft, stored: Profile,
                      trust: TrustBinding = DEFAULT_TRUST,
                      certificate: CertificateCredential | None = None, *,
                      service_account: ServiceAccount | None = None) -> Profile:
    """`build_profile` for a PUT, which must also not lose settings the client cannot see.

    Version 1 shows neither the OAuth settings nor the client secret, so a version-1 PUT
    that would switch a type-3 profile to another type (often just by omitting
    RelayAuthenticationType, which means 0) is refused instead of silently erasing them.
    """
    if (not draft.carries_oauth and stored.auth_type is AuthType.OAUTH
            and (draft.auth_type or 0) != AuthType.OAUTH):
        raise ValidationFailed([
            "RelayAuthenticationType: the stored profile uses 3 (OAuth client credentials), "
            "whose settings version 1 of the API can neither show nor send; send "
            f"RelayAuthenticationType 3 to keep them, or change the type with "
            f"x-keyfactor-api-version: 2 (got {draft.auth_type or 0})"
        ])
    return build_profile(draft, stored, trust, certificate, service_account=service_account)


def certificate_bound(certificate: CertificateCredential, profile: Profile) -> bool:
    """Whether the OAuth certificate credential may sign for this type-3 profile."""
    return (profile.auth_type is AuthType.OAUTH
            and certificate.bound_to(profile.token_endpoint, profile.client_id, profile.host,
                                     profile.port, profile.use_ssl))


def check_service_account_relay(profile: Profile, account: ServiceAccount) -> None:
    """Refuse a relay other than the one the service account key was saved for: its
    tokens are as good as the mailbox's password (SECRET_REENTRY_REQUIRED)."""
    changed = account.relay_changes(profile.host, profile.port, profile.use_ssl)
    if changed:
        relay = account.relay
        raise DomainError(
            ErrorKind.SECRET_REENTRY_REQUIRED,
            f"The service account key must be uploaded again because {_join(changed)} "
            f"changed since it was saved for {relay.host}:{relay.port} (UseSSL "
            f"{str(relay.use_ssl).lower()}): its access tokens are only ever sent to the "
            "relay it was saved for. PUT /SMTP/OAuth/ServiceAccount with this relay.",
        )


def with_service_account(profile: Profile, account: ServiceAccount | None,
                         current: TrustBinding) -> Profile:
    """`profile` with the key that signs its token requests, when it names the stored key.

    The key goes only to the relay it was saved for and only while the relay options
    verify that relay as they did then (SECRET_REENTRY_REQUIRED otherwise). A type-3
    profile with neither a client secret nor a key it names is refused (400)."""
    if profile.auth_type is not AuthType.OAUTH:
        return profile
    if account is None or not account.serves(profile.token_endpoint, profile.client_id):
        if profile.client_secret is None:
            raise ValidationFailed([
                "ClientSecret is required when RelayAuthenticationType is 3: no client "
                "secret is stored, and no service account key "
                "(PUT /SMTP/OAuth/ServiceAccount) has this TokenEndpoint and ClientId"])
        return profile
    check_service_account_relay(profile, account)
    changed = (account.trust or DEFAULT_TRUST).changed_settings(current)
    if changed:
        raise DomainError(
            ErrorKind.SECRET_REENTRY_REQUIRED,
            f"The service account key must be uploaded again because the relay options' "
            f"{_join(changed)} changed since it was saved (PUT /SMTP/Options): a stored "
            "key's tokens only go to a relay verified as it was when the key was saved.",
        )
    return replace(profile, service_account=account, client_secret=None)


def secret_trust_changes(profile: Profile, current: TrustBinding) -> list[str]:
    """The trust options changed since the stored secret in use was entered (none: [])."""
    if not ((profile.auth_type is AuthType.BASIC
             and (profile.password is not None or profile.password_ref is not None))
            or (profile.auth_type is AuthType.OAUTH
                and (profile.client_secret is not None
                     or profile.client_secret_ref is not None))):
        return []
    return (profile.secret_trust or DEFAULT_TRUST).changed_settings(current)


def check_secret_trust(profile: Profile, current: TrustBinding) -> None:
    """Refuse to send a stored secret whose relay checks have changed since it was entered.

    Raises SECRET_REENTRY_REQUIRED naming the changed options; sending the secret again
    (with the Test, or stored with a PUT) binds it to the checks in force now.
    """
    changed = secret_trust_changes(profile, current)
    name, what = (("RelayPassword", "password") if profile.auth_type is AuthType.BASIC
                  else ("ClientSecret", "client secret"))
    if changed:
        raise DomainError(
            ErrorKind.SECRET_REENTRY_REQUIRED,
            f"{name} must be re-entered because the relay options' {_join(changed)} changed "
            f"since the {what} was saved (PUT /SMTP/Options): a stored {what} is only ever "
            "sent to a relay verified as it was when the secret was entered. Send it again "
            "with the Test, or store it again with a PUT.",
        )


def check_recipient(recipient: str | None) -> str:
    """The TestRecipient, validated; raises ValidationFailed otherwise."""
    problems: list[str] = []
    value = _mailbox("TestRecipient", recipient, problems, required=True)
    if problems or value is None:
        raise ValidationFailed(problems)
    return value


def check_stored_sender(profile: Profile) -> None:
    """Hold a stored profile's sender to today's rules before a test sends as it.

    A profile saved by an older version may carry a SenderName or SenderAccount the rules
    now refuse (RFC 2047 words hiding line breaks); it is refused with a 400, not sent.
    """
    problems: list[str] = []
    _mailbox("SenderAccount", profile.sender_account, problems, required=True)
    _display_name("SenderName", profile.sender_name, problems)
    if problems:
        raise ValidationFailed([f"The stored {problem}: save the profile again with a "
                                "valid value" for problem in problems])


def changed_binding_fields(new: Profile, stored: Profile,
                           binding: tuple[tuple[str, str], ...] = _PASSWORD_BINDING) -> list[str]:
    """The Keyfactor names of the destination fields that differ between two profiles."""
    new_dest = _destination(new, binding)
    old_dest = _destination(stored, binding)
    return list(dict.fromkeys(
        wire_name
        for (_, wire_name), a, b in zip(binding, new_dest, old_dest, strict=True)
        if a != b
    ))


def _reusable_password(candidate: Profile, stored: Profile,
                       ) -> tuple[Secret | None, SecretReference | None]:
    """The stored password, or the stored reference to it, while still bound."""
    if ((stored.password is None and stored.password_ref is None)
            or stored.auth_type is not AuthType.BASIC):
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
    return stored.password, stored.password_ref


def _reusable_client_secret(candidate: Profile, stored: Profile, *, version_1: bool,
                            ) -> tuple[Secret | None, SecretReference | None]:
    if ((stored.client_secret is None and stored.client_secret_ref is None)
            or stored.auth_type is not AuthType.OAUTH):
        raise ValidationFailed(
            ["ClientSecret is required when RelayAuthenticationType is 3 (OAuth client "
             "credentials) and no client secret is stored"]
        )
    changed = changed_binding_fields(candidate, stored, _CLIENT_SECRET_BINDING)
    if changed:
        how = " (with x-keyfactor-api-version: 2)" if version_1 else ""
        raise DomainError(
            ErrorKind.SECRET_REENTRY_REQUIRED,
            f"ClientSecret must be re-entered{how} because {_join(changed)} changed since "
            "the client secret was saved: a stored client secret is only ever posted to "
            "the token endpoint it was saved for, and its tokens only sent to that relay.",
        )
    return stored.client_secret, stored.client_secret_ref


@dataclass(frozen=True)
class _OAuthFields:
    client_id: str | None = None
    token_endpoint: str | None = None
    scope: str | None = None
    audience: str | None = None
    request_headers: tuple[RequestHeader, ...] | None = None
    client_id_ref: SecretReference | None = None


_NO_OAUTH = _OAuthFields()


def _with_stored_oauth(draft: ProfileDraft, stored: Profile) -> ProfileDraft:
    """A version-1 draft of type 3: the OAuth settings it cannot carry are the stored ones."""
    if stored.auth_type is not AuthType.OAUTH:
        raise ValidationFailed([
            "RelayAuthenticationType 3 (OAuth client credentials) needs ClientId, "
            "ClientSecret and TokenEndpoint, which only version 2 of the API carries: "
            "send them with x-keyfactor-api-version: 2"
        ])
    return replace(draft, client_id=stored.client_id, client_id_ref=stored.client_id_ref,
                   client_secret=None, client_secret_ref=None,
                   token_endpoint=stored.token_endpoint, scope=stored.scope,
                   audience=stored.audience, request_headers=stored.request_headers)


def _oauth_settings(draft: ProfileDraft, problems: list[str]) -> _OAuthFields:
    client_id_ref = draft.client_id_ref
    client_id = _text("ClientId", draft.client_id, problems, required=client_id_ref is None,
                      max_length=MAX_CLIENT_ID_LENGTH)
    if client_id is not None:
        client_id_ref = None
    if draft.client_secret is not None:
        _secret_text("ClientSecret", draft.client_secret, problems)
    token_endpoint: str | None = None
    if draft.token_endpoint is None or not draft.token_endpoint.strip():
        problems.append("TokenEndpoint is required")
    else:
        try:
            check_token_endpoint(draft.token_endpoint)
            token_endpoint = draft.token_endpoint
        except OAuthSettingError as exc:
            problems.append(f"TokenEndpoint {exc}")
    scope = _text("Scope", draft.scope, problems, required=False, max_length=MAX_SCOPE_LENGTH)
    audience = _text("Audience", draft.audience, problems, required=False,
                     max_length=MAX_AUDIENCE_LENGTH)
    headers = draft.request_headers or None
    if headers is not None:
        check_request_headers(headers, "RequestHeaders", problems)
    return _OAuthFields(client_id=client_id, token_endpoint=token_endpoint, scope=scope,
                        audience=audience, request_headers=headers,
                        client_id_ref=client_id_ref)


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
        problems.append(f"RelayAuthenticationType must be {_AUTH_CHOICES} (got {raw})")
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


def _display_name(name: str, value: str | None, problems: list[str]) -> str | None:
    """A display name: literal text, without encoded-words that hide control characters."""
    text = _text(name, value, problems, required=True)
    if text is None:
        return None
    try:
        check_display_name(text)
    except AddressError as exc:
        problems.append(f"{name} {exc}")
        return None
    return text


def _secret_text(name: str, secret: Secret, problems: list[str]) -> None:
    value = secret.reveal()
    if has_control_chars(value):
        problems.append(f"{name} must not contain line breaks or other control characters")
    elif len(value) > MAX_SECRET_LENGTH:
        problems.append(f"{name} must be at most {MAX_SECRET_LENGTH} characters")
