"""Set, read and remove the relay client certificate; decide whether a test presents it.

The certificate is bound when it is saved to the stored profile's Host, Port and UseSSL
and to the relay options' trust checks then in force (`domain/client_certificate.py`);
a test presents the key only while both still hold. Changes commit with their audit
record, which names the certificate by fingerprint (public), never the key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, FieldChange, Outcome
from smtp_profile.domain.client_certificate import (
    ClientCertificate,
    ClientCertificateInput,
    Destination,
    StoredClientCertificate,
    build_client_certificate,
)
from smtp_profile.domain.errors import DomainError
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.relay_options import RelayOptions, TrustBinding
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.ports import (
    ClientCertificateStore,
    ProfileStore,
    RelayStore,
    Transaction,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientCertificateView:
    """The stored certificate and whether the stored profile may use it now."""

    stored: StoredClientCertificate
    unusable: list[str]
    """Why it is not presented to the stored relay now ([]: it is)."""


def destination_of(profile: Profile) -> Destination | None:
    return Destination.of(profile.host, profile.port, profile.use_ssl)


def usable_certificate(certificate: ClientCertificate | None, profile: Profile,
                       options: RelayOptions) -> tuple[ClientCertificate | None, str | None]:
    """The certificate to present to `profile`'s relay, or None and why it is withheld."""
    if certificate is None:
        return None, None
    reasons = certificate.unusable_reasons(destination_of(profile), TrustBinding.of(options))
    if reasons:
        return None, ("The stored client certificate was not presented: " + "; ".join(reasons)
                      + ". Set it again (PUT /KeyfactorAPI/SMTP/ClientCertificate) to bind "
                      "it to the relay as it is now.")
    return certificate, None


class ClientCertificates:
    def __init__(self, store: ClientCertificateStore, profiles: ProfileStore,
                 relay: RelayStore, audit: AuditTrail) -> None:
        self._store = store
        self._profiles = profiles
        self._relay = relay
        self._audit = audit

    async def view(self) -> ClientCertificateView:
        stored = await self._store.load()
        if stored.certificate is None:
            return ClientCertificateView(stored, [])
        profile = (await self._profiles.load()).profile
        reasons = stored.certificate.unusable_reasons(
            destination_of(profile), TrustBinding.of(await self._relay.options()))
        return ClientCertificateView(stored, reasons)

    async def for_test(self, profile: Profile, options: RelayOptions,
                       ) -> tuple[ClientCertificate | None, str | None]:
        """What a test of `profile` under `options` presents (see `usable_certificate`)."""
        return usable_certificate((await self._store.load()).certificate, profile, options)

    async def set(self, given: ClientCertificateInput, *, actor: Actor,
                  expected_version: int | None = None) -> ClientCertificateView:
        """Validate `given`, bind it to the stored relay and trust now, and store it."""
        try:
            profile = (await self._profiles.load()).profile
            certificate = build_client_certificate(
                given, destination_of(profile), TrustBinding.of(await self._relay.options()))
            stored = await self._write(certificate, actor, expected_version)
        except DomainError as error:
            await self._refused(actor, error)
            raise
        facts = certificate.facts
        log.info("client certificate set by %s: subject=%s sha256=%s for %s", actor,
                 facts.subject, facts.sha256, certificate.destination)
        return ClientCertificateView(stored, [])

    async def remove(self, *, actor: Actor,
                     expected_version: int | None = None) -> ClientCertificateView:
        try:
            stored = await self._write(None, actor, expected_version)
        except DomainError as error:
            await self._refused(actor, error)
            raise
        log.info("client certificate removed by %s", actor)
        return ClientCertificateView(stored, [])

    async def _write(self, certificate: ClientCertificate | None, actor: Actor,
                     expected_version: int | None) -> StoredClientCertificate:
        async def record(transaction: Transaction, old: StoredClientCertificate,
                         new: StoredClientCertificate) -> None:
            await self._audit.record_in(transaction, self._audit.event(
                action=AuditAction.CLIENT_CERTIFICATE, user=actor.name, client=actor.client,
                outcome=Outcome.ok(), changes=_changes(old, new)))

        return await self._store.replace(certificate, actor=actor.name,
                                         expected_version=expected_version, on_write=record)

    async def _refused(self, actor: Actor, error: DomainError) -> None:
        await self._audit.record(action=AuditAction.CLIENT_CERTIFICATE, user=actor.name,
                                 client=actor.client, outcome=Outcome.of_error(error))


def _changes(old: StoredClientCertificate, new: StoredClientCertificate,
             ) -> list[FieldChange]:
    before = old.certificate.facts.sha256 if old.certificate else None
    after = new.certificate.facts.sha256 if new.certificate else None
    changes = [FieldChange("ClientCertificateSha256", before, after)]
    if new.certificate is not None:
        changes.append(FieldChange.secret_changed("PrivateKey"))
        changes.append(FieldChange("BoundTo", None, str(new.certificate.destination)))
    return changes
