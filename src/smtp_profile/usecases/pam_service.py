"""PAM providers: configuring them (audited), checking references, fetching values.

`PamProviders` is what the routes and the CLI call: list, add, change and remove
providers, each change recorded in the audit trail in the same transaction. `SecretFetcher`
turns the references of a profile into values when a test needs them, through the
provider types the runtime hands it (`pam/registry.py`), keeping each value in memory
for at most the operator's `--pam-cache-seconds` (`usecases/memory.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.addresses import has_control_chars
from smtp_profile.domain.audit import AuditAction, FieldChange, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.pam import (
    SECRET_HINTS,
    PamProvider,
    ProviderDraft,
    build_provider,
    reference_problems,
)
from smtp_profile.domain.profile import MAX_SECRET_LENGTH, Profile
from smtp_profile.domain.secret_reference import (
    SecretFailure,
    SecretReference,
    SecretUnavailable,
)
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.steps import StepName, StepResult, StepStatus
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.memory import FetchedSecrets
from smtp_profile.usecases.ports import (
    OnProviderWrite,
    PamProviderStore,
    PamProviderType,
    Transaction,
)

log = logging.getLogger(__name__)

FETCH_GRACE_SECONDS = 2.0
"""Beyond a type's own time limit, before a fetch that ignores it is abandoned."""


class PamProviders:
    """The configured providers, as the operator manages them."""

    def __init__(self, store: PamProviderStore, types: Mapping[str, PamProviderType],
                 audit: AuditTrail, fetched: FetchedSecrets) -> None:
        self._store = store
        self._types = types
        self._audit = audit
        self._fetched = fetched

    def types(self) -> list[PamProviderType]:
        return [self._types[name] for name in sorted(self._types)]

    def type_of(self, name: str | None) -> PamProviderType:
        provider_type = self._types.get(name or "")
        if provider_type is None:
            known = ", ".join(sorted(self._types)) or "none"
            raise ValidationFailed([f"ProviderType: unknown PAM provider type {name!r}; "
                                    f"known types: {known} (GET /PamProviders/Types)"])
        return provider_type

    async def list(self) -> list[PamProvider]:
        return await self._store.list()

    async def get(self, provider_id: int) -> PamProvider:
        provider = await self._store.get(provider_id)
        if provider is None:
            raise DomainError(ErrorKind.PAM_PROVIDER_NOT_FOUND,
                              f"No PAM provider has the Id {provider_id}; see GET "
                              "/PamProviders.")
        return provider

    async def create(self, draft: ProviderDraft, *, actor: Actor) -> PamProvider:
        action = AuditAction.PAM_PROVIDER_CREATE
        try:
            provider_type = self.type_of(draft.type_name)
            provider = build_provider(draft, provider_type.parameters)
            provider_type.validate(provider.opened_settings())
            stored = await self._store.create(
                provider, actor=actor.name, on_write=self._recorder(action, actor))
        except DomainError as error:
            await self._refused(action, actor, error)
            raise
        log.info("PAM provider %s (%s, %s) added by %s", stored.id, stored.name,
                 stored.type_name, actor)
        return stored

    async def update(self, provider_id: int, draft: ProviderDraft, *,
                     actor: Actor) -> PamProvider:
        """Replace a provider's name and settings; secret settings not sent are kept.
        Its type cannot change (references are written for one type's parameters)."""
        action = AuditAction.PAM_PROVIDER_UPDATE

        def build(current: PamProvider) -> PamProvider:
            if draft.type_name not in (None, "", current.type_name):
                raise ValidationFailed([
                    f"ProviderType: PAM provider {provider_id} is of type "
                    f"{current.type_name!r} and stays so; add a new provider for another "
                    "type"])
            provider_type = self.type_of(current.type_name)
            new = build_provider(replace(draft, type_name=current.type_name),
                                 provider_type.parameters, provider_id=provider_id,
                                 stored=current)
            provider_type.validate(new.opened_settings())
            return new

        try:
            stored = await self._store.update(provider_id, build, actor=actor.name,
                                              on_write=self._recorder(action, actor))
        except DomainError as error:
            await self._refused(action, actor, error)
            raise
        finally:
            self._fetched.forget(provider_id)
        log.info("PAM provider %s (%s) changed by %s", stored.id, stored.name, actor)
        return stored

    async def delete(self, provider_id: int, *, actor: Actor) -> None:
        action = AuditAction.PAM_PROVIDER_DELETE
        try:
            removed = await self._store.delete(provider_id,
                                               on_write=self._recorder(action, actor))
        except DomainError as error:
            await self._refused(action, actor, error)
            raise
        finally:
            self._fetched.forget(provider_id)
        log.info("PAM provider %s (%s) removed by %s", removed.id, removed.name, actor)

    async def check_references(self, profile: Profile) -> None:
        """Each reference names an existing provider with its type's parameters; raises
        ValidationFailed naming every problem."""
        problems: list[str] = []
        for name, reference in profile.references.items():
            provider = await self._store.get(reference.provider_id)
            if provider is None:
                problems.append(f"{name}.Provider: no PAM provider has the Id "
                                f"{reference.provider_id} (GET /PamProviders)")
                continue
            provider_type = self._types.get(provider.type_name)
            if provider_type is None:
                problems.append(f"{name}.Provider: PAM provider {provider.id} is of type "
                                f"{provider.type_name!r}, which this instance does not have")
                continue
            problems += reference_problems(name, reference, provider_type.parameters)
        if problems:
            raise ValidationFailed(problems)

    def _recorder(self, action: AuditAction, actor: Actor) -> OnProviderWrite:
        async def record(transaction: Transaction, old: PamProvider | None,
                         new: PamProvider | None) -> None:
            subject = new or old
            assert subject is not None
            await self._audit.record_in(transaction, self._audit.event(
                action=action, user=actor.name, client=actor.client, outcome=Outcome.ok(),
                changes=provider_changes(old, new),
                detail=f"PAM provider {subject.id} ({subject.name}, {subject.type_name})"))
        return record

    async def _refused(self, action: AuditAction, actor: Actor, error: DomainError) -> None:
        await self._audit.record(action=action, user=actor.name, client=actor.client,
                                 outcome=Outcome.of_error(error))


def provider_changes(old: PamProvider | None, new: PamProvider | None,
                     ) -> tuple[FieldChange, ...]:
    """What differs, secret settings only as changed (never a value, old or new)."""
    changes: list[FieldChange] = []
    for name, before, after in (("Name", old.name if old else None,
                                 new.name if new else None),
                                ("ProviderType", old.type_name if old else None,
                                 new.type_name if new else None)):
        if before != after:
            changes.append(FieldChange(name, before, after))
    old_settings = old.setting_map if old else {}
    new_settings = new.setting_map if new else {}
    for key in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(key) != new_settings.get(key):
            changes.append(FieldChange(key, old_settings.get(key), new_settings.get(key)))
    old_secrets = dict(old.secrets) if old else {}
    new_secrets = dict(new.secrets) if new else {}
    for key in sorted(set(old_secrets) | set(new_secrets)):
        if old_secrets.get(key) != new_secrets.get(key):
            changes.append(FieldChange.secret_changed(key))
    return tuple(changes)


@dataclass(frozen=True)
class Resolved:
    """A profile with its references replaced by values, and the `secret` step."""

    profile: Profile | None
    """None when a value could not be fetched (the step says why)."""
    step: StepResult


_FIELDS = (("RelayUsername", "username", "username_ref", False),
           ("RelayPassword", "password", "password_ref", True),
           ("ClientId", "client_id", "client_id_ref", False),
           ("ClientSecret", "client_secret", "client_secret_ref", True))


class SecretFetcher:
    """Fetches the values of a profile's references, through the provider types."""

    def __init__(self, store: PamProviderStore, types: Mapping[str, PamProviderType],
                 fetched: FetchedSecrets, *, timeout: float) -> None:
        self._store = store
        self._types = types
        self._fetched = fetched
        self._timeout = timeout

    async def resolve(self, profile: Profile, *, fresh: bool) -> Resolved:
        """Fetch every value `profile` refers to; `fresh` skips the memory (Diagnose).

        The step names each provider (Id, name, type) and reference parameters, never a
        value; a failure carries the provider's reason and a hint for it.
        """
        step = StepResult(StepName.SECRET)
        used: dict[str, object] = {}
        step.details["Credentials"] = used
        changes: dict[str, object] = {}
        started = asyncio.get_running_loop().time()
        for name, attribute, reference_attribute, secret in _FIELDS:
            reference: SecretReference | None = getattr(profile, reference_attribute)
            if reference is None:
                continue
            where: dict[str, object] = {"Provider": reference.provider_id,
                                        "Parameters": reference.parameter_map}
            used[name] = where
            provider = await self._store.get(reference.provider_id)
            try:
                if provider is None:
                    raise SecretUnavailable(
                        SecretFailure.MISCONFIGURED,
                        f"PAM provider {reference.provider_id} no longer exists")
                where.update(ProviderName=provider.name, ProviderType=provider.type_name)
                value, cached = await self._fetch(provider, reference, fresh=fresh)
            except SecretUnavailable as exc:
                label = (f"PAM provider {reference.provider_id}" if provider is None else
                         f"PAM provider {provider.id} ({provider.name!r}, "
                         f"{provider.type_name})")
                step.status = StepStatus.FAILED
                step.message = f"{name}: {label} gave no value: {exc.detail}"
                step.hint = SECRET_HINTS[exc.failure]
                step.details["Failure"] = exc.failure.value
                step.details["Field"] = name
                step.duration_ms = _ms(started)
                return Resolved(None, step)
            where["Cached"] = cached
            changes[attribute] = value if secret else value.reveal()
            changes[reference_attribute] = None
        step.status = StepStatus.OK
        step.duration_ms = _ms(started)
        return Resolved(replace(profile, **changes), step)  # type: ignore[arg-type]

    def forget(self, profile: Profile) -> None:
        """Drop the remembered values of `profile`'s providers (a test with them failed
        to sign in: the vault may have rotated them)."""
        for reference in profile.references.values():
            self._fetched.forget(reference.provider_id)

    async def _fetch(self, provider: PamProvider, reference: SecretReference, *,
                     fresh: bool) -> tuple[Secret, bool]:
        key = (provider.id, provider.version, reference.parameters)
        if not fresh:
            remembered = self._fetched.get(key)
            if remembered is not None:
                return remembered, True
        provider_type = self._types.get(provider.type_name)
        if provider_type is None:
            raise SecretUnavailable(SecretFailure.MISCONFIGURED,
                                    f"this instance has no provider type "
                                    f"{provider.type_name!r}")
        problems = reference_problems("Parameters", reference, provider_type.parameters)
        if problems:
            raise SecretUnavailable(SecretFailure.MISCONFIGURED, "; ".join(problems))
        try:
            source = provider_type.open(provider.opened_settings(), timeout=self._timeout)
        except ValidationFailed as exc:
            raise SecretUnavailable(SecretFailure.MISCONFIGURED, exc.message) from None
        try:
            async with asyncio.timeout(self._timeout + FETCH_GRACE_SECONDS):
                value = await source.fetch(reference.parameter_map)
        except TimeoutError:
            raise SecretUnavailable(SecretFailure.TIMED_OUT,
                                    f"no answer within {self._timeout:g} seconds") from None
        finally:
            await source.aclose()
        if not value:
            raise SecretUnavailable(SecretFailure.EMPTY, "the secret is empty")
        if has_control_chars(value) or len(value) > MAX_SECRET_LENGTH:
            # held to the rules a typed credential obeys (it goes into SMTP and HTTP)
            raise SecretUnavailable(
                SecretFailure.MISCONFIGURED,
                "the value holds line breaks or other control characters, or is longer "
                f"than {MAX_SECRET_LENGTH} characters: store the credential alone")
        secret = Secret(value)
        self._fetched.put(key, secret)
        return secret, False


def _ms(started: float) -> float:
    return round((asyncio.get_running_loop().time() - started) * 1000, 1)
