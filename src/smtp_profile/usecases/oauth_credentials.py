"""The OAuth credential extension of a type-3 profile: read, replace, remove, warn.

A certificate credential is bound when it is saved: to the TokenEndpoint and ClientId it
signs for and to the relay (Host, Port, UseSSL) its tokens go to. Fields the client does
not send are taken from the stored profile, so a credential saved beside a type-3 profile
is bound to it without retyping. A change that sends no new certificate keeps the stored
one only while its binding stays the same (else SECRET_REENTRY_REQUIRED: the key is
never carried to another destination). The change and its audit record commit together.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.addresses import AddressError, ascii_host, has_control_chars
from smtp_profile.domain.audit import AuditAction, FieldChange, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.oauth import (
    MAX_CLIENT_ID_LENGTH,
    OAuthSettingError,
    check_token_endpoint,
)
from smtp_profile.domain.oauth_credential import (
    CertificateUpload,
    CredentialBinding,
    OAuthCredentials,
    StoredCredentials,
    oauth_credential_warnings,
    parse_certificate,
)
from smtp_profile.domain.profile import AuthType, Profile, certificate_bound
from smtp_profile.domain.relay_options import DEFAULT_TRUST, TrustBinding
from smtp_profile.domain.warnings import StatusWarning
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.ports import (
    Clock,
    OAuthCredentialStore,
    ProfileStore,
    RelayStore,
    Transaction,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CredentialChange:
    """A PUT: a new certificate (or none: keep the stored one), where it is bound (None:
    the stored profile's value), and the client secret's expiry (None: not recorded)."""

    upload: CertificateUpload = field(default_factory=CertificateUpload)
    token_endpoint: str | None = None
    client_id: str | None = None
    host: str | None = None
    port: int | None = None
    use_ssl: bool | None = None
    client_secret_expires: date | None = None


class OAuthCredentialService:
    def __init__(self, store: OAuthCredentialStore, profiles: ProfileStore,
                 audit: AuditTrail, clock: Clock = time.time,
                 relay: RelayStore | None = None) -> None:
        self._relay = relay
        self._store = store
        self._profiles = profiles
        self._audit = audit
        self._clock = clock

    async def get(self) -> StoredCredentials:
        return await self._store.load()

    async def in_use(self, stored: StoredCredentials) -> bool:
        """Whether the stored profile's token requests are signed with this certificate."""
        cert = stored.credentials.certificate
        return cert is not None and certificate_bound(cert, (await self._profiles.load()).profile)

    async def replace(self, change: CredentialChange, *, actor: Actor,
                      expected_version: int | None = None) -> StoredCredentials:
        profile = (await self._profiles.load()).profile
        now = datetime.fromtimestamp(self._clock(), UTC)
        # A new key is bound to the relay options' checks in force now.
        trust = (DEFAULT_TRUST if self._relay is None
                 else TrustBinding.of(await self._relay.options()))

        def build(current: StoredCredentials) -> OAuthCredentials:
            binding = _binding(change, profile)
            stored = current.credentials.certificate
            if not change.upload.empty:
                certificate = parse_certificate(change.upload, binding, now, trust)
            elif stored is not None:
                changed = stored.binding.changed_fields(
                    binding.token_endpoint, binding.client_id, binding.host, binding.port,
                    binding.use_ssl)
                if changed:
                    raise DomainError(
                        ErrorKind.SECRET_REENTRY_REQUIRED,
                        f"The certificate and private key must be sent again because "
                        f"{', '.join(changed)} changed since they were saved: a stored key "
                        "only ever signs for the token endpoint, client and relay it was "
                        "saved for.")
                certificate = stored
            else:
                certificate = None
            return OAuthCredentials(certificate, change.client_secret_expires)

        return await self._write(build, actor, expected_version)

    async def delete(self, *, actor: Actor,
                     expected_version: int | None = None) -> StoredCredentials:
        """Forget the certificate credential and the recorded expiry."""
        return await self._write(lambda _current: OAuthCredentials(), actor, expected_version)

    async def warnings(self) -> list[StatusWarning]:
        """The expiry warnings for GET /SMTP/Status (30, 14 and 3 days ahead)."""
        profile = (await self._profiles.load()).profile
        credentials = (await self._store.load()).credentials
        return credential_warnings(profile, credentials,
                                   datetime.fromtimestamp(self._clock(), UTC))

    async def _write(self, build: object, actor: Actor,
                     expected_version: int | None) -> StoredCredentials:
        async def record(transaction: Transaction, old: StoredCredentials,
                         new: StoredCredentials) -> None:
            await self._audit.record_in(transaction, self._audit.event(
                action=AuditAction.OAUTH_CREDENTIAL, user=actor.name, client=actor.client,
                outcome=Outcome.ok(),
                changes=credential_changes(old.credentials, new.credentials)))

        try:
            stored = await self._store.replace(
                build, actor=actor.name,  # type: ignore[arg-type]
                expected_version=expected_version, on_write=record)
        except DomainError as error:
            await self._audit.record(action=AuditAction.OAUTH_CREDENTIAL, user=actor.name,
                                     client=actor.client, outcome=Outcome.of_error(error))
            raise
        cert = stored.credentials.certificate
        log.info("OAuth credential changed by %s: certificate=%s client_secret_expires=%s",
                 actor, cert.thumbprint if cert else None,
                 stored.credentials.client_secret_expires)
        return stored


def credential_warnings(profile: Profile, credentials: OAuthCredentials,
                        now: datetime) -> list[StatusWarning]:
    """The hook for the Status warnings: which credential the profile uses decides which
    expiry matters."""
    cert = credentials.certificate
    in_use = cert is not None and certificate_bound(cert, profile)
    return oauth_credential_warnings(
        credentials, auth_type=int(profile.auth_type), certificate_in_use=in_use,
        client_secret_in_use=not in_use and profile.client_secret is not None, now=now)


def credential_changes(old: OAuthCredentials, new: OAuthCredentials) -> list[FieldChange]:
    """The audit record's changes: thumbprints and dates, never the key."""
    changes: list[FieldChange] = []
    before = old.certificate.thumbprint if old.certificate else None
    after = new.certificate.thumbprint if new.certificate else None
    if before != after:
        changes.append(FieldChange("CertificateThumbprint", before, after))
    old_key = old.certificate.private_key if old.certificate else None
    new_key = new.certificate.private_key if new.certificate else None
    if old_key != new_key:
        changes.append(FieldChange.secret_changed("PrivateKey"))
    old_b = old.certificate.binding if old.certificate else None
    new_b = new.certificate.binding if new.certificate else None
    for name, attribute in (("TokenEndpoint", "token_endpoint"), ("ClientId", "client_id"),
                            ("Host", "host"), ("Port", "port"), ("UseSSL", "use_ssl")):
        a = getattr(old_b, attribute) if old_b else None
        b = getattr(new_b, attribute) if new_b else None
        if a != b:
            changes.append(FieldChange(name, a, b))
    if old.client_secret_expires != new.client_secret_expires:
        changes.append(FieldChange(
            "ClientSecretExpires",
            old.client_secret_expires.isoformat() if old.client_secret_expires else None,
            new.client_secret_expires.isoformat() if new.client_secret_expires else None))
    return changes


def _binding(change: CredentialChange, profile: Profile) -> CredentialBinding:
    """Where the credential is bound: what the change names, else the stored profile's."""
    oauth = profile.auth_type is AuthType.OAUTH
    token_endpoint = change.token_endpoint or (profile.token_endpoint if oauth else None)
    client_id = change.client_id or (profile.client_id if oauth else None)
    host = change.host or profile.host
    port = change.port if change.port is not None else profile.port
    use_ssl = change.use_ssl if change.use_ssl is not None else profile.use_ssl
    problems: list[str] = []
    if not token_endpoint:
        problems.append("TokenEndpoint is required (the stored profile is not of type 3)")
    else:
        try:
            check_token_endpoint(token_endpoint)
        except OAuthSettingError as exc:
            problems.append(f"TokenEndpoint {exc}")
    if not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH or has_control_chars(client_id):
        problems.append(f"ClientId is required (at most {MAX_CLIENT_ID_LENGTH} characters, "
                        "no control characters)")
    if not host:
        problems.append("Host is required (no profile is stored yet)")
    else:
        try:
            ascii_host(host)
        except AddressError as exc:
            problems.append(f"Host {exc}")
    if not 1 <= port <= 65535:
        problems.append(f"Port must be between 1 and 65535 (got {port})")
    if problems:
        raise ValidationFailed(problems)
    assert token_endpoint
    assert client_id
    assert host
    return CredentialBinding(token_endpoint, client_id, host, port, use_ssl)

