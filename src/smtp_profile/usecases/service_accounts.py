"""Upload, read and delete the Google service account key (the JWT bearer grant).

The domain reads the key file and holds the binding rule (domain/service_account.py);
this layer stores the key with the relay it is saved for and the relay options' checks
in force now, and records every change or refusal in the audit trail, in the same
transaction as the write. Nothing here knows HTTP.
"""

from __future__ import annotations

import logging

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, FieldChange, Outcome
from smtp_profile.domain.errors import DomainError, ValidationFailed
from smtp_profile.domain.relay_options import TrustBinding
from smtp_profile.domain.service_account import (
    ServiceAccount,
    StoredServiceAccount,
    check_relay,
    parse_key_file,
)
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.ports import RelayStore, ServiceAccountStore, Transaction

log = logging.getLogger(__name__)


class ServiceAccounts:
    def __init__(self, store: ServiceAccountStore, relay: RelayStore,
                 audit: AuditTrail) -> None:
        self._store = store
        self._relay = relay
        self._audit = audit

    async def get(self) -> StoredServiceAccount:
        return await self._store.load()

    async def upload(self, key_file: str, *, host: str | None, port: int | None,
                     use_ssl: bool | None, actor: Actor,
                     expected_version: int | None = None) -> StoredServiceAccount:
        """Store the key in `key_file` for the relay `host`:`port`; it replaces any key."""
        try:
            problems: list[str] = []
            try:
                key = parse_key_file(key_file)
            except ValidationFailed as exc:
                problems += exc.problems
                key = None
            relay = check_relay(host, port, use_ssl, problems)
            if problems or key is None or relay is None:
                raise ValidationFailed(problems)
            account = ServiceAccount(key, relay, TrustBinding.of(await self._relay.options()))
            stored = await self._write(account, actor, expected_version)
        except DomainError as error:
            await self._refused(actor, error)
            raise
        log.info("service account key %s of %s stored by %s for %s:%s", key.private_key_id,
                 key.client_email, actor, relay.host, relay.port)
        return stored

    async def delete(self, *, actor: Actor,
                     expected_version: int | None = None) -> StoredServiceAccount:
        try:
            stored = await self._write(None, actor, expected_version)
        except DomainError as error:
            await self._refused(actor, error)
            raise
        log.info("service account key deleted by %s", actor)
        return stored

    async def _write(self, account: ServiceAccount | None, actor: Actor,
                     expected_version: int | None) -> StoredServiceAccount:
        async def record(transaction: Transaction, old: StoredServiceAccount,
                         new: StoredServiceAccount) -> None:
            await self._audit.record_in(transaction, self._audit.event(
                action=AuditAction.SERVICE_ACCOUNT, user=actor.name, client=actor.client,
                outcome=Outcome.ok(), changes=account_changes(old.account, new.account)))

        return await self._store.replace(account, actor=actor.name,
                                         expected_version=expected_version, on_write=record)

    async def _refused(self, actor: Actor, error: DomainError) -> None:
        await self._audit.record(action=AuditAction.SERVICE_ACCOUNT, user=actor.name,
                                 client=actor.client, outcome=Outcome.of_error(error))


def account_changes(old: ServiceAccount | None,
                    new: ServiceAccount | None) -> tuple[FieldChange, ...]:
    """What changed, by the route's field names; the private key only as changed."""
    def fields(account: ServiceAccount | None) -> dict[str, str | int | bool | None]:
        if account is None:
            return dict.fromkeys(("ClientEmail", "PrivateKeyId", "ClientId", "TokenUri",
                                  "Host", "Port", "UseSSL"))
        key = account.key
        return {"ClientEmail": key.client_email, "PrivateKeyId": key.private_key_id,
                "ClientId": key.client_id, "TokenUri": key.token_uri,
                "Host": account.relay.host, "Port": account.relay.port,
                "UseSSL": account.relay.use_ssl}

    before, after = fields(old), fields(new)
    changes = [FieldChange(name, before[name], after[name])
               for name in before if before[name] != after[name]]
    old_key = None if old is None else old.key.private_key
    new_key = None if new is None else new.key.private_key
    if old_key != new_key:
        changes.append(FieldChange.secret_changed("PrivateKey"))
    return tuple(changes)
