"""Wiring: from Settings to the running parts (database, keys, accounts, mailer).

This is the one place that knows both the use cases and the adapters: it builds the
store and the mailer, hands them to the use cases as their ports (`usecases/ports.py`),
and hands the process's memories of the stored state (`usecases/memory.py`) to the
adapters that fill them.

Start-up is split in two: `prepare` does the blocking work once (data dir, migrations,
key file) before any event loop runs; `Runtime.open` builds the async parts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.logs import quiet_libraries
from smtp_profile.mailer.catalogue import catalogue
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from smtp_profile.mailer.resolver import Resolver
from smtp_profile.pam.registry import PROVIDER_TYPES
from smtp_profile.settings import Settings
from smtp_profile.store.audit import AuditRepository
from smtp_profile.store.client_certificates import ClientCertificateRepository
from smtp_profile.store.database import create_engine_for, migrate
from smtp_profile.store.oauth_credential import OAuthCredentialRepository
from smtp_profile.store.pam_providers import PamProviderRepository
from smtp_profile.store.profiles import ProfileRepository
from smtp_profile.store.relay import RelayRepository
from smtp_profile.store.secret_box import KeyFiles, SecretBox, load_keys
from smtp_profile.store.service_accounts import ServiceAccountRepository
from smtp_profile.store.sessions import SessionRepository
from smtp_profile.store.snapshot import SnapshotReader
from smtp_profile.store.sqlite_writer import SQLiteWriter, writer_for
from smtp_profile.store.throttle import ThrottleRepository
from smtp_profile.store.users import UserRepository
from smtp_profile.usecases.accounts import Accounts
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.bearer import BearerSignIn
from smtp_profile.usecases.client_certificates import ClientCertificates
from smtp_profile.usecases.memory import FetchedSecrets, StateMemory
from smtp_profile.usecases.oauth_credentials import OAuthCredentialService
from smtp_profile.usecases.pam_service import PamProviders, SecretFetcher
from smtp_profile.usecases.profile_service import ProfileService, TestLimits
from smtp_profile.usecases.service_accounts import ServiceAccounts
from smtp_profile.usecases.signin import SignIn
from smtp_profile.usecases.web_sessions import WebSessions

if TYPE_CHECKING:
    from smtp_profile.identity.provider import OidcProvider

DRAIN_MARGIN_SECONDS = 5.0
"""Beyond the test timeout, for a finished test's audit record and status to be written."""


def prepare(settings: Settings) -> None:
    """Create the data dir (0700), upgrade the schema, create the key file if needed."""
    ensure_data_dir(settings.data_dir)
    load_keys(settings.data_dir, settings.secret_key, create=True)
    migrate(settings.resolved_database_url)


def _oidc_provider() -> type[OidcProvider]:
    """The identity provider's adapter, imported only when one is configured: it brings
    PyJWT and httpx, which a service signing in with passwords alone never loads."""
    from smtp_profile.identity.provider import OidcProvider

    return OidcProvider


def ensure_data_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    box: SecretBox
    accounts: Accounts
    profiles: ProfileRepository
    mailer: Mailer
    audit: AuditTrail
    counters: ThrottleRepository
    snapshots: SnapshotReader
    writer: SQLiteWriter | None
    service: ProfileService
    sign_in: SignIn
    sessions: WebSessions
    memory: StateMemory
    oauth_credentials: OAuthCredentialService
    service_accounts: ServiceAccounts
    """The Google service account key (JWT bearer grant) behind its own routes."""
    client_certificates: ClientCertificates
    pam: PamProviders
    bearer: BearerSignIn | None = None
    """Bearer tokens from the operator's identity provider (None: not configured)."""

    @classmethod
    def open(cls, settings: Settings, *, resolver: Resolver | None = None,
             clock: Callable[[], float] = time.time) -> Runtime:
        """`clock` (epoch seconds) is the time sign-in limits and the audit trail go by."""
        quiet_libraries()
        memory = StateMemory(pam_secrets=FetchedSecrets(settings.pam_cache_seconds))
        engine = create_engine_for(settings.resolved_database_url,
                                   synchronous=settings.sqlite_synchronous)
        box = SecretBox(load_keys(settings.data_dir, settings.secret_key, create=False),
                        key_files=None if settings.secret_key else KeyFiles(settings.data_dir))
        writer = writer_for(settings.resolved_database_url,
                            synchronous=settings.sqlite_synchronous)
        profiles = ProfileRepository(engine, box, memory.profile, writer)
        accounts_store = ServiceAccountRepository(engine, box)
        relay = RelayRepository(engine, memory.options)
        mailer = Mailer(
            MailerConfig(
                connect_timeout=settings.connect_timeout,
                test_timeout=settings.test_timeout,
                ca_bundle=settings.ca_bundle,
                local_hostname=settings.local_hostname,
                implicit_tls_ports=settings.implicit_tls_ports,
                cleartext_credentials=settings.cleartext_credentials,
                outbound=settings.outbound,
            ),
            resolver=resolver,
        )
        memory.adapters.update({"tokens": mailer.token_cache,
                                "tls contexts": mailer.trust.contexts})
        accounts = Accounts(UserRepository(engine), verified=memory.passwords)
        counters = ThrottleRepository(engine)
        snapshots = SnapshotReader(engine, memory.snapshots)
        rules = settings.bearer_rules
        relay = RelayRepository(engine, memory.options)
        certificates = ClientCertificateRepository(engine, box, memory.client_certificate)
        audit = AuditTrail(AuditRepository(engine, writer),
                           retention_days=settings.audit_retention_days,
                           clock=lambda: datetime.fromtimestamp(clock(), UTC))
        credentials = OAuthCredentialRepository(engine, box)
        # The registry is read when used: a type registered later (a test's) is known.
        providers = PamProviderRepository(engine, box)
        pam = PamProviders(providers, PROVIDER_TYPES, audit, memory.pam_secrets)
        secrets = SecretFetcher(providers, PROVIDER_TYPES, memory.pam_secrets,
                                timeout=settings.pam_timeout)
        return cls(
            settings=settings,
            engine=engine,
            box=box,
            accounts=accounts,
            profiles=profiles,
            mailer=mailer,
            audit=audit,
            counters=counters,
            snapshots=snapshots,
            writer=writer,
            service=ProfileService(
                profiles, relay, mailer, audit, counters,
                TestLimits(settings.outbound, settings.recipients, settings.tests_per_minute,
                           settings.max_concurrent_tests), credentials=credentials,
                service_accounts=accounts_store, client_certificates=certificates,
                catalogue=catalogue(), pam=pam, secrets=secrets),
            service_accounts=ServiceAccounts(accounts_store, relay, audit),
            sign_in=SignIn(accounts, audit, counters, snapshots, clock),
            sessions=WebSessions(SessionRepository(engine, memory.sessions,
                                                   snapshots.commit_counter),
                                 timedelta(minutes=settings.session_minutes),
                                 maximum=timedelta(minutes=settings.session_max_minutes)),
            memory=memory,
            oauth_credentials=OAuthCredentialService(credentials, profiles, audit, clock,
                                                     relay),
            client_certificates=ClientCertificates(certificates, profiles, relay, audit),
            pam=pam,
            bearer=None if rules is None else BearerSignIn(
                _oidc_provider()(rules, refetch_seconds=settings.oidc_refetch_seconds,
                             timeout=settings.connect_timeout, ca_bundle=settings.ca_bundle),
                settings.claim_mapping, audit, counters, clock, memory.bearer_tokens),
        )

    async def close(self) -> None:
        # Tests whose callers left still run and still record; let them finish (the
        # mailer ends every test within test_timeout) before the database goes.
        await self.service.drain(self.settings.test_timeout + DRAIN_MARGIN_SECONDS)
        await self.snapshots.aclose()
        if self.writer is not None:
            self.writer.close()
        await self.engine.dispose()
