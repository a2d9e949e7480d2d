"""The use cases both the HTTP API and the CLI share: read, replace and test the profile.

The domain decides (validation, secret reuse); this layer only sequences the store and the
mailer around it, records the outcome in the audit trail, and writes the log lines an
operator reads. Nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, FieldChange, Outcome, profile_changes
from smtp_profile.domain.capacity import Capacity, Slot
from smtp_profile.domain.client_certificate import ClientCertificate
from smtp_profile.domain.errors import (
    DomainError,
    ErrorKind,
    Throttled,
    ValidationFailed,
    seconds,
)
from smtp_profile.domain.oauth import endpoint_destination
from smtp_profile.domain.oauth_credential import CertificateCredential, check_certificate_trust
from smtp_profile.domain.outbound import OutboundPolicy
from smtp_profile.domain.profile import (
    IMPLICIT_TLS_PORTS,
    AuthType,
    Profile,
    ProfileDraft,
    TlsMode,
    build_profile,
    build_replacement,
    certificate_bound,
    check_recipient,
    check_secret_trust,
    check_stored_sender,
    with_service_account,
)
from smtp_profile.domain.providers import Catalogue
from smtp_profile.domain.recipients import RecipientPolicy
from smtp_profile.domain.relay_options import Mechanism, RelayOptions, TrustBinding
from smtp_profile.domain.resolution import Resolution
from smtp_profile.domain.secrets import check_opens
from smtp_profile.domain.service_account import ServiceAccount
from smtp_profile.domain.status import LastTest, summarize
from smtp_profile.domain.steps import (
    STEP_LABELS,
    StepName,
    StepResult,
    StepStatus,
    TestMode,
    TestReport,
    new_test_id,
    plan_steps,
)
from smtp_profile.domain.stored import ProfileStamp, Snapshot, StoredOptions, StoredProfile
from smtp_profile.domain.throttle import rate_retry_after, rate_window_key
from smtp_profile.domain.warnings import StatusWarning
from smtp_profile.usecases import status_warnings
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.client_certificates import destination_of, usable_certificate
from smtp_profile.usecases.pam_service import PamProviders, SecretFetcher
from smtp_profile.usecases.ports import (
    ClientCertificateStore,
    Clock,
    OAuthCredentialStore,
    ProfileStore,
    RateCounters,
    RelayMailer,
    RelayStore,
    ServiceAccountStore,
    Transaction,
)

log = logging.getLogger(__name__)

BUSY_LOG_SECONDS = 60.0


@dataclass(frozen=True)
class TestLimits:
    """The operator's limits on Test and Diagnose: where they may connect, to whom they
    may send, how often each user may run one, and how many may run at once."""

    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    recipients: RecipientPolicy = field(default_factory=RecipientPolicy)
    per_minute: int = 30
    concurrent: int = 50


@dataclass(frozen=True)
class PreparedTest:
    """A validated test, ready to run: what will be sent where, with which trust."""

    profile: Profile
    recipient: str
    mode: TestMode
    options: RelayOptions
    stored_version: int | None
    """The stored profile's version when the test is of exactly the stored profile."""
    resolution: Resolution
    """The relay's one lookup: addresses the outbound policy allowed, or the failure
    (then the test fails at step `resolve`; nothing is looked up again)."""
    token_resolution: Resolution | None = None
    """The token endpoint's one lookup, judged the same way (OAuth profiles only)."""
    oauth_certificate: CertificateCredential | None = field(default=None, repr=False)
    """The OAuth certificate credential bound to `profile`, signing instead of a secret."""
    test_id: str = field(default_factory=new_test_id)
    client_certificate: ClientCertificate | None = field(default=None, repr=False)
    """The relay client certificate to present (bound to this destination and trust)."""
    client_certificate_withheld: str | None = None
    """Why a stored client certificate is not presented, for the report."""
    slot: Slot | None = field(default=None, compare=False, repr=False)
    """This test's place among the tests running at once; `run_test` gives it back."""


@dataclass(frozen=True)
class TestOutcome:
    """What a test used and what it found; `profile` still holds the secret it used."""

    profile: Profile
    recipient: str
    report: TestReport


@dataclass(frozen=True)
class ProfileStatus:
    stored: StoredProfile
    options: RelayOptions
    last_test: LastTest | None
    warnings: tuple[StatusWarning, ...] = ()


class ProfileService:
    def __init__(self, profiles: ProfileStore, relay: RelayStore, mailer: RelayMailer,
                 audit: AuditTrail, counters: RateCounters,
                 limits: TestLimits | None = None,
                 clock: Clock = time.time,
                 monotonic: Clock = time.monotonic,
                 credentials: OAuthCredentialStore | None = None,
                 service_accounts: ServiceAccountStore | None = None,
                 client_certificates: ClientCertificateStore | None = None,
                 catalogue: Catalogue | None = None,
                 pam: PamProviders | None = None,
                 secrets: SecretFetcher | None = None) -> None:
        self._pam = pam
        self._secrets = secrets
        self._profiles = profiles
        self._catalogue = catalogue
        self._credentials = credentials
        self._service_accounts = service_accounts
        self._relay = relay
        self._mailer = mailer
        self._audit = audit
        self._counters = counters
        self._limits = limits or TestLimits()
        self._clock = clock
        self._monotonic = monotonic
        self._client_certificates = client_certificates
        # The longest a test holds its slot: the relay's and the token endpoint's lookups
        # (connect timeout each), then the conversation (test timeout).
        config = mailer.config
        self._capacity = Capacity(self._limits.concurrent,
                                  2 * config.connect_timeout + config.test_timeout)
        self._busy_logged = -math.inf
        self._busy_refusals = 0
        self._running: set[asyncio.Task[TestOutcome]] = set()

    async def get(self, stamp: ProfileStamp | None = None) -> StoredProfile:
        """The stored profile; `stamp`, if the caller just read it, spares a query."""
        return await self._profiles.load_version(stamp)

    async def replace(self, draft: ProfileDraft, *, actor: Actor,
                      expected_version: int | None = None,
                      known: Snapshot | None = None) -> StoredProfile:
        """Validate and store `draft`; the audit record commits with the new profile.

        A refused PUT (invalid, stale If-Match, password to re-enter) is recorded too,
        with the error code and message the caller gets. `known`: the snapshot the
        caller just read, whose options stamp spares reading the relay options again.
        """

        async def record(transaction: Transaction, old: StoredProfile,
                         new: StoredProfile) -> None:
            await self._audit.record_in(transaction, self._audit.event(
                action=AuditAction.PUT, user=actor.name, client=actor.client,
                outcome=Outcome.ok(), changes=profile_changes(old.profile, new.profile),
                profile_version=new.version,
            ))

        # A secret in the draft is bound to the relay options' checks in force now.
        trust = TrustBinding.of(await self._relay.options(known))
        try:
            await self._check_references(draft)
            oauth = draft.auth_type == AuthType.OAUTH
            certificate = await self._oauth_certificate() if oauth else None
            account = await self._service_account() if oauth else None
            stored = await self._profiles.replace(
                lambda current: build_replacement(draft, current.profile, trust,
                                                  certificate, service_account=account),
                actor=actor.name, expected_version=expected_version, on_write=record,
                known=None if known is None else known.profile_stamp,
            )
        except DomainError as error:
            await self._audit.record(action=AuditAction.PUT, user=actor.name,
                                     client=actor.client, outcome=Outcome.of_error(error))
            raise
        log.info("profile replaced by %s: host=%s port=%s auth=%s version=%s", actor,
                 stored.profile.host, stored.profile.port, int(stored.profile.auth_type),
                 stored.version)
        return stored

    async def prepare_test(self, draft: ProfileDraft | None, recipient: str | None, *,
                           actor: Actor, action: AuditAction = AuditAction.TEST,
                           mode: TestMode = TestMode.SEND,
                           mechanism: Mechanism | None = None,
                           known: Snapshot | None = None) -> PreparedTest:
        """Validate like a PUT (without storing), then apply the operator's limits.

        `draft=None` tests the stored profile (sending to its own SenderAccount when no
        recipient is given). A stored password is only used when the destination in
        `draft` is the one it was saved for, so a test cannot carry it to another server,
        and only while the relay options verify the relay as they did when it was
        entered (SECRET_REENTRY_REQUIRED, before any connection, otherwise).
        The relay is looked up here and its addresses judged by the outbound policy; the
        conversation then connects to exactly those. A refused test is recorded under
        `action` (Test or Diagnose). `known`: the stored state, if the caller just read
        it (it spares reading the profile and the relay options again).

        The test takes one of the instance's slots here (or is refused with BUSY when
        all are taken), so that a refusal can still be an HTTP error before a streamed
        answer starts; `run_test` gives the slot back, and so does dropping the prepared
        test unrun.
        """
        try:
            slot = self._claim_slot()
        except DomainError as error:
            await self._audit.record(action=action, user=actor.name, client=actor.client,
                                     outcome=Outcome.of_error(error))
            raise
        try:
            prepared = await self._prepare(draft, recipient, actor=actor, action=action,
                                           mode=mode, mechanism=mechanism, known=known)
        except BaseException:
            slot.release()
            raise
        prepared = replace(prepared, slot=slot)
        weakref.finalize(prepared, slot.release)
        return prepared

    async def _prepare(self, draft: ProfileDraft | None, recipient: str | None, *,
                       actor: Actor, action: AuditAction, mode: TestMode,
                       mechanism: Mechanism | None, known: Snapshot | None) -> PreparedTest:
        try:
            await self._count_test(actor)
            stored = await self._profiles.load_version(
                None if known is None else known.profile_stamp)
            options = await self._relay.options(known)
            trust = TrustBinding.of(options)
            oauth = (stored.profile.auth_type is AuthType.OAUTH if draft is None
                     else draft.auth_type == AuthType.OAUTH)
            certificate = await self._oauth_certificate() if oauth else None
            account = await self._service_account() if oauth else None
            if draft is None:
                profile = stored.profile
                if not profile.host or not profile.sender_account:
                    raise ValidationFailed([
                        "The stored profile has no Host or SenderAccount yet: save a "
                        "profile first, or send the settings to test"])
                check_stored_sender(profile)
                recipient = recipient or profile.sender_account
            else:
                await self._check_references(draft)
                profile = build_profile(draft, stored.profile, trust, certificate,
                                        service_account=account)
            if certificate is not None and not certificate_bound(certificate, profile):
                certificate = None
            if (profile.auth_type is AuthType.OAUTH and account is not None
                    and account.serves(profile.token_endpoint, profile.client_id)):
                # The service account key signs (a JWT bearer grant), nothing else.
                profile = with_service_account(profile, account, trust)
                certificate = None
            elif (profile.auth_type is AuthType.OAUTH and profile.client_secret is None
                    and profile.client_secret_ref is None and certificate is None):
                raise ValidationFailed([
                    "ClientSecret is required: no client secret is stored, the OAuth "
                    "certificate credential (GET /SMTP/OAuth/Credential) is not bound to "
                    "this TokenEndpoint, ClientId and relay, and no service account key "
                    "(GET /SMTP/OAuth/ServiceAccount) has this TokenEndpoint and ClientId"])
            check_secret_trust(profile, trust)
            check_opens(profile.password, profile.client_secret)
            if certificate is not None:
                check_certificate_trust(certificate, trust)
            to = check_recipient(recipient)
            self._refuse_if(self._limits.recipients.refusal(to))
            resolution, token_resolution = await self._vet_destinations(profile)
        except DomainError as error:
            await self._audit.record(action=action, user=actor.name, client=actor.client,
                                     outcome=Outcome.of_error(error))
            raise
        if mechanism is not None:
            options = replace(options, mechanism=mechanism)
        client_certificate, withheld = (None, None) if self._client_certificates is None \
            else usable_certificate((await self._client_certificates.load(known)).certificate,
                                    profile, options)
        return PreparedTest(profile, to, mode, options,
                            stored.version if profile == stored.profile else None,
                            resolution, token_resolution, oauth_certificate=certificate,
                            client_certificate=client_certificate,
                            client_certificate_withheld=withheld)

    async def _oauth_certificate(self) -> CertificateCredential | None:
        """The stored OAuth certificate credential (its binding is checked by the caller)."""
        if self._credentials is None:
            return None
        return (await self._credentials.load()).credentials.certificate

    async def _service_account(self) -> ServiceAccount | None:
        """The stored Google service account key, which a type-3 profile may name."""
        if self._service_accounts is None:
            return None
        return (await self._service_accounts.load()).account

    async def _check_references(self, draft: ProfileDraft) -> None:
        """The draft's PAM references name existing providers, with their types'
        parameters (kept references were checked when they were stored)."""
        named = Profile(username_ref=draft.username_ref, password_ref=draft.password_ref,
                        client_id_ref=draft.client_id_ref,
                        client_secret_ref=draft.client_secret_ref)
        if not named.references:
            return
        if self._pam is None:
            raise DomainError(ErrorKind.UNSUPPORTED_SECRET_PROVIDER,
                              "PAM providers are not configured on this instance.")
        await self._pam.check_references(named)

    def _claim_slot(self) -> Slot:
        now = self._monotonic()
        slot = self._capacity.acquire(now)
        if slot is None:
            retry = self._capacity.retry_after(now)
            limit = self._capacity.limit
            self._busy_refusals += 1
            if now >= self._busy_logged + BUSY_LOG_SECONDS:  # one line a minute, not a flood
                log.warning("%s test(s) refused: %s tests already running on this instance "
                            "(SMTP_PROFILE_MAX_CONCURRENT_TESTS)", self._busy_refusals, limit)
                self._busy_logged, self._busy_refusals = now, 0
            running = "1 test is" if limit == 1 else f"{limit} tests are"
            raise Throttled(retry, f"{running} already running on this instance, the most "
                                   f"it runs at once; try again in {seconds(retry)}.",
                            ErrorKind.BUSY)
        return slot

    async def _count_test(self, actor: Actor) -> None:
        limit = self._limits.per_minute
        if limit <= 0:
            return
        now = self._clock()
        count = await self._counters.increment(rate_window_key(actor.name, now), now)
        retry = rate_retry_after(count, limit, now)
        if retry is not None:
            raise Throttled(retry, f"User '{actor.name}' ran more than {limit} tests this "
                                   f"minute; try again in {seconds(retry)}.",
                            ErrorKind.RATE_LIMITED)

    async def _vet_destinations(self, profile: Profile,
                                ) -> tuple[Resolution, Resolution | None]:
        """Look the relay (and an OAuth profile's token endpoint) up once each and judge
        the addresses by the outbound policy; the test then connects to exactly these.

        A failed or empty lookup has only its port judged here: it is handed on as it is
        and fails the test at step `resolve` (or `token`); nothing is looked up again.
        """
        policy = self._limits.outbound
        resolution = await self._mailer.resolve(profile)
        self._refuse_if(policy.refusal(resolution.host, profile.port,
                                       [a.ip for a in resolution.addresses]),
                        f"{profile.host}:{profile.port}")
        endpoint = await self._mailer.resolve_token_endpoint(profile)
        if endpoint is not None and profile.token_endpoint:
            scheme, host, port, _path, _query = endpoint_destination(profile.token_endpoint)
            self._refuse_if(policy.token_endpoint_refusal(
                scheme, host, port, [a.ip for a in endpoint.addresses]),
                f"the token endpoint {host}:{port}")
        return resolution, endpoint

    @staticmethod
    def _refuse_if(reason: str | None, target: str | None = None) -> None:
        if reason is None:
            return
        what = f"Tests may not connect to {target}: " if target else "Refused: "
        raise DomainError(ErrorKind.TARGET_REFUSED,
                          f"{what}{reason}. The operator's outbound and recipient policy "
                          "(SMTP_PROFILE_OUTBOUND_* and SMTP_PROFILE_TEST_RECIPIENT_DOMAINS) "
                          "decides this.")

    async def run_test(self, prepared: PreparedTest, *, actor: Actor,
                       action: AuditAction = AuditAction.TEST,
                       on_step: Callable[[StepResult], None] | None = None) -> TestOutcome:
        """Run the test in a task the service owns, and wait for it.

        A caller that goes away (a client hanging up cancels its request) stops only
        the waiting: the test runs to its end and is recorded with its outcome, so a
        test that talked to a relay is never missing from the audit trail. `drain`
        waits for such tests when the service stops.
        """
        task = asyncio.get_running_loop().create_task(
            self._run_in_slot(prepared, actor, action, on_step),
            name=f"test-{prepared.test_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                log.info("the caller of test %s left; the test runs to its end",
                         prepared.test_id)
                task.add_done_callback(_log_unseen_failure)
            raise

    async def _run_in_slot(self, prepared: PreparedTest, actor: Actor, action: AuditAction,
                           on_step: Callable[[StepResult], None] | None) -> TestOutcome:
        """The test, then its place among the concurrent tests given back, however it ends."""
        try:
            return await self._run_and_record(prepared, actor, action, on_step)
        finally:
            if prepared.slot is not None:
                prepared.slot.release()

    async def _run_and_record(self, prepared: PreparedTest, actor: Actor,
                              action: AuditAction,
                              on_step: Callable[[StepResult], None] | None) -> TestOutcome:
        started = datetime.now(UTC)
        finished: list[StepResult] = []

        def progress(step: StepResult) -> None:
            finished.append(step)
            if on_step is not None:
                on_step(step)

        detail = (f"test {prepared.test_id} ({prepared.mode.value}) via "
                  f"{prepared.profile.host}:{prepared.profile.port} to {prepared.recipient}")
        try:
            report = await self._converse(prepared, action, progress)
        except asyncio.CancelledError:  # only when the service stops (see drain)
            reached = (f"after step '{STEP_LABELS[finished[-1].name]}'" if finished
                       else "before its first step")
            await self._audit.record(
                action=action, user=actor.name, client=actor.client, detail=detail,
                outcome=Outcome.failed(ErrorKind.INTERNAL, f"Test {prepared.test_id} was "
                                       f"abandoned {reached}: the service stopped."),
                profile_version=prepared.stored_version)
            raise
        except Exception:
            log.exception("test %s failed with an unexpected error", prepared.test_id)
            await self._audit.record(
                action=action, user=actor.name, client=actor.client, detail=detail,
                outcome=Outcome.failed(ErrorKind.INTERNAL, f"Test {prepared.test_id} failed "
                                       "with an unexpected error in the service; the "
                                       "server log has the details."),
                profile_version=prepared.stored_version)
            raise
        failed = report.failed_step
        log.info("test %s (%s) by %s via %s:%s to %s: %s", report.test_id, report.mode.value,
                 actor, prepared.profile.host, prepared.profile.port, prepared.recipient,
                 "ok" if report.success else f"failed at {failed.name.value if failed else '?'}")
        outcome = (Outcome.ok() if report.success
                   else Outcome.failed(ErrorKind.TEST_FAILED, report.failure_summary()))
        await self._audit.record(
            action=action, user=actor.name, client=actor.client, outcome=outcome,
            detail=detail, profile_version=prepared.stored_version,
        )
        # A fault of the service says nothing about the settings: it must not stand as
        # their last test (it would show a working relay as failing).
        if prepared.stored_version is not None and not report.internal_error:
            await self._relay.save_last_test(summarize(
                report, tested_at=started, tested_by=actor.name,
                profile_version=prepared.stored_version))
        return TestOutcome(prepared.profile, prepared.recipient, report)

    async def _converse(self, prepared: PreparedTest, action: AuditAction,
                        progress: Callable[[StepResult], None]) -> TestReport:
        """The conversation, after the `secret` step when the profile names PAM
        references: their values are fetched first (always afresh for a Diagnose), so a
        value that cannot be fetched fails the test before any connection is opened."""
        profile = prepared.profile
        secret_step: StepResult | None = None
        if profile.references:
            if self._secrets is None:
                raise DomainError(ErrorKind.UNSUPPORTED_SECRET_PROVIDER,
                                  "PAM providers are not configured on this instance.")
            resolved = await self._secrets.resolve(
                profile, fresh=action is AuditAction.DIAGNOSE)
            secret_step = resolved.step
            progress(secret_step)
            if resolved.profile is None:
                return self._secret_failed(prepared, secret_step)
            profile = resolved.profile
        report = await self._mailer.run(profile, prepared.recipient,
                                         mode=prepared.mode, options=prepared.options,
                                         test_id=prepared.test_id,
                                         resolution=prepared.resolution,
                                         token_resolution=prepared.token_resolution,
                                         on_step=progress,
                                         oauth_certificate=prepared.oauth_certificate,
                                         client_certificate=prepared.client_certificate,
                                         client_certificate_withheld=(
                                             prepared.client_certificate_withheld))
        if secret_step is not None:
            report.steps.insert(0, secret_step)
            failed = report.failed_step
            if (self._secrets is not None and failed is not None
                    and failed.name in (StepName.AUTH, StepName.TOKEN)):
                self._secrets.forget(prepared.profile)  # the vault may have rotated it
        return report

    def _secret_failed(self, prepared: PreparedTest, step: StepResult) -> TestReport:
        """The report of a test whose credentials could not be fetched: every step of
        the conversation skipped."""
        profile = prepared.profile
        ports = getattr(self._mailer.config, "implicit_tls_ports", IMPLICIT_TLS_PORTS)
        tls = profile.tls_mode(ports)
        plan = plan_steps(implicit_tls=tls is TlsMode.IMPLICIT,
                          starttls=tls is TlsMode.STARTTLS,
                          auth=profile.auth_type in (AuthType.BASIC, AuthType.OAUTH),
                          token=profile.auth_type is AuthType.OAUTH, mode=prepared.mode)
        return TestReport(prepared.test_id, prepared.mode,
                          [step] + [StepResult(name, StepStatus.SKIPPED) for name in plan])

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for the tests still running (their callers may have
        left), then stop the rest; each stopped test is recorded as abandoned."""
        running = set(self._running)
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace)

    async def test(self, draft: ProfileDraft | None, recipient: str | None, *, actor: Actor,
                   mode: TestMode = TestMode.SEND,
                   known: Snapshot | None = None) -> TestOutcome:
        prepared = await self.prepare_test(draft, recipient, actor=actor, mode=mode,
                                           known=known)
        return await self.run_test(prepared, actor=actor)

    async def status(self) -> ProfileStatus:
        """The stored state, its last test, and the warnings about it
        (`usecases/status_warnings.py`)."""
        stored = await self._profiles.load()
        options = await self._relay.options()
        last = await self._relay.last_test()
        certificate = (None if self._client_certificates is None
                       else await self._client_certificates.load())
        unusable: tuple[str, ...] = ()
        if certificate is not None and certificate.certificate is not None:
            unusable = tuple(certificate.certificate.unusable_reasons(
                destination_of(stored.profile), TrustBinding.of(options)))
        credentials = (None if self._credentials is None
                       else (await self._credentials.load()).credentials)
        warnings = status_warnings.collect(status_warnings.WarningInputs(
            stored.profile, options, last, certificate, unusable,
            datetime.fromtimestamp(self._clock(), UTC), credentials, self._catalogue))
        return ProfileStatus(stored, options, last, warnings)

    async def options(self) -> StoredOptions:
        return await self._relay.stored_options()

    async def set_options(self, options: RelayOptions, *, actor: Actor,
                          expected_version: int | None = None) -> StoredOptions:
        """Store the relay options; the audit record commits with them (one transaction).

        A refused change (a stale If-Match) is recorded too; switching trust off is
        logged loudly.
        """

        async def record(transaction: Transaction, old: StoredOptions,
                         new: StoredOptions) -> None:
            await self._audit.record_in(transaction, self._audit.event(
                action=AuditAction.OPTIONS, user=actor.name, client=actor.client,
                outcome=Outcome.ok(), changes=_option_changes(old.options, new.options)))

        try:
            stored = await self._relay.replace_options(
                options, actor=actor.name, expected_version=expected_version,
                on_write=record)
        except DomainError as error:
            await self._audit.record(action=AuditAction.OPTIONS, user=actor.name,
                                     client=actor.client, outcome=Outcome.of_error(error))
            raise
        level = logging.WARNING if options.insecure else logging.INFO
        log.log(level, "relay options changed by %s: trust=%s mechanism=%s", actor,
                options.trust_mode.value, options.mechanism.value)
        return stored


def _log_unseen_failure(task: asyncio.Task[TestOutcome]) -> None:
    """A test whose caller left: its failure has no one else to be reported to."""
    if not task.cancelled() and task.exception() is not None:
        log.error("test task %s failed after its caller left", task.get_name(),
                  exc_info=task.exception())


def _option_changes(old: RelayOptions, new: RelayOptions) -> list[FieldChange]:
    changes = [
        FieldChange(name, before, after)
        for name, before, after in (
            ("Trust", old.trust_mode.value, new.trust_mode.value),
            ("Insecure", old.insecure, new.insecure),
            ("PinnedSha256", old.pinned_sha256, new.pinned_sha256),
            ("Mechanism", old.mechanism.value, new.mechanism.value),
        )
        if before != after
    ]
    if old.ca_pem != new.ca_pem:
        changes.append(FieldChange("CaBundle", "set" if old.ca_pem else None,
                                   "set" if new.ca_pem else None))
    return changes
