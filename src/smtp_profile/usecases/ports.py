"""What the use cases need from the world, as small ports; the adapters implement them.

The store (`store/`), the mailer (`mailer/`) and the clocks are wired to these in
`runtime.py`, the one place that knows both sides. The use cases see plain values
(`domain/stored.py`, `domain/resolution.py`) and, for a write that must commit together
with its audit record, an opaque `Transaction`; never a database type.

A store reports a database it cannot reach or write as `StoreUnavailable` (a 503 the
caller may retry) and a statement the database refused as `StoreFault` (a defect).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from smtp_profile.domain.audit import AuditEvent, AuditPage, AuditQuery
from smtp_profile.domain.client_certificate import ClientCertificate, StoredClientCertificate
from smtp_profile.domain.errors import ErrorKind, Throttled
from smtp_profile.domain.oauth_credential import (
    CertificateCredential,
    OAuthCredentials,
    StoredCredentials,
)
from smtp_profile.domain.pam import PamProvider
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.relay_options import RelayOptions
from smtp_profile.domain.resolution import Resolution
from smtp_profile.domain.secret_reference import ParameterSpec
from smtp_profile.domain.service_account import ServiceAccount, StoredServiceAccount
from smtp_profile.domain.status import LastTest
from smtp_profile.domain.steps import StepResult, TestMode, TestReport
from smtp_profile.domain.stored import (
    ProfileStamp,
    SessionRecord,
    Snapshot,
    StoredOptions,
    StoredProfile,
    UserRecord,
)
from smtp_profile.domain.throttle import Judged

RETRY_AFTER_SECONDS = 5

Clock = Callable[[], float]
"""Seconds since the epoch (sign-in limits, test rates)."""
DateClock = Callable[[], datetime]
"""An aware UTC datetime (audit records, web sessions)."""


# --- failures every store may raise ---------------------------------------------------

class StoreUnavailable(Throttled):
    """The database cannot be reached or written just now; the caller may retry."""

    def __init__(self, cause: str) -> None:
        super().__init__(RETRY_AFTER_SECONDS,
                         "The database cannot be reached or written just now "
                         f"({cause}); try again shortly.", ErrorKind.STORE_UNAVAILABLE)


class IdentityProviderUnavailable(Throttled):
    """The identity provider's discovery document or keys cannot be fetched: no client
    can fix that by sending another token, so a 503 the caller may retry."""

    def __init__(self, cause: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(max(1, retry_after),
                         "The identity provider's signing keys cannot be fetched "
                         f"({cause}), so bearer tokens cannot be checked; try again "
                         "shortly or ask the operator.",
                         ErrorKind.IDENTITY_PROVIDER_UNAVAILABLE)


class TokenRejected(Exception):
    """A bearer token that is not acceptable; `reason` says why in words safe to send
    back (RFC 6750's error_description), `claims` are what it claimed, unverified (for
    the audit trail only)."""

    def __init__(self, reason: str, claims: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claims: Mapping[str, Any] = claims or {}


class TokenVerifier(Protocol):
    """Checks a bearer token against the identity provider's published keys."""

    async def verify(self, token: str) -> Mapping[str, Any]:
        """The token's verified claims; raises TokenRejected or
        IdentityProviderUnavailable."""
        ...

    @property
    def key_generation(self) -> int:
        """Moves whenever the published keys are fetched again: a token verified under
        the keys of another generation must be verified again (its key may be gone)."""
        ...


class StoreFault(Exception):
    """The database refused a statement as inconsistent: a defect in the service."""


class StoreConflict(StoreFault):
    """A unique or other constraint refused the write; callers that expect it catch it."""


class UserExists(Exception):
    pass


class UnknownUser(Exception):
    pass


# --- a write in progress --------------------------------------------------------------

class Transaction:
    """A store's write in progress, opaque to the use cases: they only hand it to the
    audit log, so that the record commits or rolls back with the write. Each store
    subclasses it around its own connection."""

    __slots__ = ()


OnProfileWrite = Callable[[Transaction, StoredProfile, StoredProfile], Awaitable[None]]
"""Called inside a profile write with the replaced and the new profile."""
OnOptionsWrite = Callable[[Transaction, StoredOptions, StoredOptions], Awaitable[None]]
"""Called inside an options write with the replaced and the new options."""
OnCredentialsWrite = Callable[[Transaction, StoredCredentials, StoredCredentials],
                              Awaitable[None]]
"""Called inside an OAuth credential write with the replaced and the new credentials."""
OnServiceAccountWrite = Callable[[Transaction, StoredServiceAccount, StoredServiceAccount],
                                 Awaitable[None]]
"""Called inside a service account write with the replaced and the new row."""
OnProviderWrite = Callable[[Transaction, PamProvider | None, PamProvider | None],
                           Awaitable[None]]
"""Called inside a PAM provider's write with the old and new provider (None: none)."""


# --- the stores -----------------------------------------------------------------------

class ProfileStore(Protocol):
    async def load(self) -> StoredProfile: ...

    async def load_version(self, stamp: ProfileStamp | None) -> StoredProfile:
        """The profile at `stamp` (just read by the caller); from memory when it can."""
        ...

    async def replace(self, build: Callable[[StoredProfile], Profile], *, actor: str,
                      expected_version: int | None = None,
                      on_write: OnProfileWrite | None = None,
                      known: ProfileStamp | None = None) -> StoredProfile:
        """Store `build(current)` in one atomic write; a stale `expected_version` is a
        PRECONDITION_FAILED DomainError. `known`: the stamp the caller just read, a
        hint only (the write still lands on the stored profile it replaced, or not)."""
        ...


class RelayStore(Protocol):
    """The relay's options and its last test."""

    async def options(self, known: Snapshot | None = None) -> RelayOptions: ...

    async def stored_options(self, known: Snapshot | None = None) -> StoredOptions: ...

    async def replace_options(self, options: RelayOptions, *, actor: str,
                              expected_version: int | None = None,
                              on_write: OnOptionsWrite | None = None) -> StoredOptions: ...

    async def last_test(self) -> LastTest | None: ...

    async def save_last_test(self, last: LastTest) -> None:
        """Keep `last` unless a newer test is stored already."""
        ...


class OAuthCredentialStore(Protocol):
    """The OAuth certificate credential and the client secret's recorded expiry."""

    async def load(self) -> StoredCredentials: ...

    async def replace(self, build: Callable[[StoredCredentials], OAuthCredentials], *,
                      actor: str, expected_version: int | None = None,
                      on_write: OnCredentialsWrite | None = None) -> StoredCredentials:
        """Store `build(current)` in one atomic write; a stale `expected_version` is a
        PRECONDITION_FAILED DomainError."""
        ...


class ServiceAccountStore(Protocol):
    """The Google service account key (JWT bearer grant), its relay and its version."""

    async def load(self) -> StoredServiceAccount: ...

    async def replace(self, account: ServiceAccount | None, *, actor: str,
                      expected_version: int | None = None,
                      on_write: OnServiceAccountWrite | None = None) -> StoredServiceAccount:
        """Store `account` (None: clear it); a stale `expected_version` is a
        PRECONDITION_FAILED DomainError."""
        ...


class AuditLog(Protocol):
    async def insert(self, transaction: Transaction, event: AuditEvent,
                     at: datetime) -> None:
        """Append within `transaction`: the record commits with the write."""
        ...

    async def add(self, event: AuditEvent, at: datetime) -> None:
        """Append in a transaction of its own, committed when this returns."""
        ...

    async def count_refusal(self, client: str, window_start: datetime) -> int:
        """One more refused sign-in from `client` in the minute; the count."""
        ...

    async def summarize_refusals(
            self, before: datetime, at: datetime,
            summary: Callable[[str, datetime, int], AuditEvent | None]) -> int: ...

    async def list(self, query: AuditQuery) -> AuditPage: ...

    async def prune(self, before: datetime) -> int: ...


class RateCounters(Protocol):
    """Counts per key and quiet hour, shared by every instance (tests per minute)."""

    async def increment(self, key: str, now: float) -> int: ...


class SignInCounters(Protocol):
    """The sign-in throttle's counters, shared by every instance."""

    async def attempt(self, counters: tuple[Judged, ...], now: float) -> float:
        """Count one attempt unless a binding counter must still wait (its seconds)."""
        ...

    async def signed_in(self, name: str, address: str, now: float, *, counted: bool,
                        known: bool) -> None: ...

    async def unlock(self, name: str, address: str | None = None) -> int: ...

    async def prune(self, now: float) -> int: ...


class SnapshotSource(Protocol):
    async def read(self, name: str, client: str) -> Snapshot:
        """What a request by `name` from `client` must know, read at one moment."""
        ...


class UserStore(Protocol):
    async def get(self, name: str) -> UserRecord | None: ...

    async def list(self) -> list[UserRecord]: ...

    async def count(self) -> int: ...

    async def add(self, name: str, password_hash: str,
                  permissions: frozenset[Permission]) -> None:
        """Raises UserExists."""
        ...

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        """Raises UnknownUser; ends the user's web sessions."""
        ...

    async def remove(self, name: str) -> None:
        """Raises UnknownUser; ends the user's web sessions."""
        ...


class SessionStore(Protocol):
    async def add(self, token_hash: str, user_name: str, created_at: datetime,
                  expires_at: datetime) -> None: ...

    async def find(self, token_hash: str, now: datetime) -> SessionRecord | None: ...

    def remembered(self, token_hash: str, now: datetime) -> SessionRecord | None:
        """What `find` would answer, if it can be told without I/O (else None)."""
        ...

    def epoch(self) -> int | None:
        """What changes whenever the sessions `remembered` answers from are forgotten
        (None: it answers from none), so a caller that kept one can tell it still
        holds without looking it up again."""
        ...

    async def extend(self, token_hash: str, expires_at: datetime) -> None:
        """Move a session's end later (never earlier)."""
        ...

    async def remove(self, token_hash: str) -> bool: ...


# --- the relay ------------------------------------------------------------------------

class Timeouts(Protocol):
    @property
    def connect_timeout(self) -> float: ...

    @property
    def test_timeout(self) -> float: ...


class RelayMailer(Protocol):
    """Looks the relay up and runs one test conversation with it."""

    @property
    def config(self) -> Timeouts: ...

    async def resolve(self, profile: Profile) -> Resolution: ...

    async def resolve_token_endpoint(self, profile: Profile) -> Resolution | None: ...

    async def run(self, profile: Profile, recipient: str, *, resolution: Resolution,
                  token_resolution: Resolution | None = None,
                  mode: TestMode = TestMode.SEND,
                  options: RelayOptions | None = None, test_id: str | None = None,
                  on_step: Callable[[StepResult], None] | None = None,
                  oauth_certificate: CertificateCredential | None = None,
                  client_certificate: ClientCertificate | None = None,
                  client_certificate_withheld: str | None = None) -> TestReport:
        """Never raises for SMTP: every failure is a step of the report.

        `client_certificate` is presented in the TLS handshake; `..._withheld` says why
        a stored one is not (its binding no longer holds), for the report."""
        ...


OnClientCertificateWrite = Callable[
    [Transaction, StoredClientCertificate, StoredClientCertificate], Awaitable[None]]
"""Called inside a client-certificate write with the replaced and the new state."""


class ClientCertificateStore(Protocol):
    """The relay client certificate (one, or none), its key sealed at rest."""

    async def load(self, known: Snapshot | None = None) -> StoredClientCertificate:
        """From memory when `known` (a snapshot just read) names the version remembered."""
        ...

    async def replace(self, certificate: ClientCertificate | None, *, actor: str,
                      expected_version: int | None = None,
                      on_write: OnClientCertificateWrite | None = None,
                      ) -> StoredClientCertificate:
        """Store `certificate` (None removes it); a version other than `expected_version`
        is a 412 (PRECONDITION_FAILED)."""
        ...


# --- PAM providers (secrets that live in a vault) --------------------------------------

class SecretSource(Protocol):
    """One configured PAM provider, ready to fetch values by reference.

    Raises `domain.secret_reference.SecretUnavailable` for every failure; never returns an
    empty value (that is `SecretFailure.EMPTY`).
    """

    async def fetch(self, parameters: Mapping[str, str]) -> str: ...

    async def aclose(self) -> None: ...


class PamProviderType(Protocol):
    """A kind of PAM provider (HashiCorp Vault, AWS Secrets Manager, a command).

    `name` is the type's name on the wire (Keyfactor's ProviderType.Name);
    `parameters` lists both the provider-level settings and the per-reference ones.
    `validate` raises `domain.errors.ValidationFailed` for settings that cannot work
    (before anything is stored); `open` builds a source from the provider-level values
    (secret ones already decrypted) and `timeout` seconds for each fetch.
    """

    name: str
    parameters: tuple[ParameterSpec, ...]

    def validate(self, settings: Mapping[str, str]) -> None: ...

    def open(self, settings: Mapping[str, str], *, timeout: float) -> SecretSource: ...


class PamProviderStore(Protocol):
    """The configured PAM providers; each write commits with what `on_write` writes."""

    async def list(self) -> list[PamProvider]: ...

    async def get(self, provider_id: int) -> PamProvider | None: ...

    async def create(self, provider: PamProvider, *, actor: str,
                     on_write: OnProviderWrite | None = None) -> PamProvider:
        """Store a new provider (its `id` is given by the store); a taken name is a
        PAM_PROVIDER_NAME_TAKEN DomainError."""
        ...

    async def update(self, provider_id: int, build: Callable[[PamProvider], PamProvider], *,
                     actor: str, on_write: OnProviderWrite | None = None) -> PamProvider:
        """Replace the provider with `build(current)`; PAM_PROVIDER_NOT_FOUND if none."""
        ...

    async def delete(self, provider_id: int, *,
                     on_write: OnProviderWrite | None = None) -> PamProvider:
        """Remove it; PAM_PROVIDER_IN_USE while the profile refers to it."""
        ...
