"""One SMTP test conversation, driven step by step so every failure has a place.

Resolution and the TCP connection are done here (so the report can say which address
answered, and tests can inject a resolver); aiosmtplib then speaks SMTP on the connected
socket. The whole test runs under one deadline, so a relay that stalls anywhere ends the
test within the bound instead of holding a request open. When a step fails, a probe may
take a second look (`probes.py`) so the hint says what is really there.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import aiosmtplib
from aiosmtplib import SMTPResponse
from aiosmtplib.errors import (
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from smtp_profile.domain.addresses import ascii_host
from smtp_profile.domain.cleartext import CleartextCredentials, cleartext_refusal
from smtp_profile.domain.client_certificate import ClientCertificate
from smtp_profile.domain.deadlines import deadline_warnings
from smtp_profile.domain.oauth import endpoint_destination
from smtp_profile.domain.oauth_credential import CertificateCredential
from smtp_profile.domain.outbound import OutboundPolicy
from smtp_profile.domain.profile import IMPLICIT_TLS_PORTS, AuthType, Profile, TlsMode
from smtp_profile.domain.redaction import profile_redactor
from smtp_profile.domain.relay_options import Mechanism, RelayOptions, TrustMode
from smtp_profile.domain.steps import (
    StepName,
    StepResult,
    TestMode,
    TestReport,
    plan_steps,
)
from smtp_profile.domain.warnings import Severity, StatusWarning
from smtp_profile.mailer import certificates, diagnosis, probes
from smtp_profile.mailer.catalogue import catalogue
from smtp_profile.mailer.client_tls import HandshakeWatch, Observation
from smtp_profile.mailer.connection import RelayConnection
from smtp_profile.mailer.failures import StepFailure
from smtp_profile.mailer.message import build_test_message, envelope
from smtp_profile.mailer.recorder import Recorder
from smtp_profile.mailer.resolver import (
    Resolution,
    ResolvedAddress,
    Resolver,
    SystemResolver,
    resolve_once,
)
from smtp_profile.mailer.tls import TrustStore, client_context, peer_der, session_details
from smtp_profile.oauth.cache import TokenCache

if TYPE_CHECKING:
    from smtp_profile.oauth.token import TokenClient

log = logging.getLogger(__name__)

SUPPORTED_MECHANISMS = ("PLAIN", "LOGIN")
_PROBE_TIMEOUT = 3.0
SUBMISSION_PORTS = (587, 465, 25, 2525)
"""The ports tried when the relay's port is silent, to tell a blocked port from a dead host."""


def new_test_id() -> str:
    return str(uuid.uuid4())


def _default_local_hostname() -> str:
    """This machine's name for EHLO, without a DNS lookup (getfqdn can stall offline)."""
    name = socket.gethostname()
    return name if name.isascii() and name and " " not in name else "localhost"


@dataclass(frozen=True)
class MailerConfig:
    connect_timeout: float = 10.0
    test_timeout: float = 30.0
    ca_bundle: Path | None = None
    local_hostname: str | None = None
    implicit_tls_ports: frozenset[int] = IMPLICIT_TLS_PORTS
    cleartext_credentials: CleartextCredentials = CleartextCredentials.LOOPBACK
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    """The operator's outbound policy, which the blocked-port probe stays within."""
    probe_ports: tuple[int, ...] = SUBMISSION_PORTS
    port_probe_seconds: float = _PROBE_TIMEOUT


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Mailer:
    """Runs test conversations; holds what is costly to build (the TLS trust stores)."""

    def __init__(self, config: MailerConfig, resolver: Resolver | None = None,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        """`clock`: the time the token's lifetime and the providers' dates are read by."""
        self.config = config
        self.clock = clock
        self.resolver: Resolver = resolver or SystemResolver()
        self.trust = TrustStore(config.ca_bundle)
        self.local_hostname = config.local_hostname or _default_local_hostname()
        self.token_cache = TokenCache()
        """The OAuth token client's memory, there from the start (`usecases/memory.py`)."""

    @cached_property
    def tokens(self) -> TokenClient:
        """The OAuth token client, built at the first OAuth relay's test: its module brings
        httpx and PyJWT, which a service without OAuth relays never loads."""
        from smtp_profile.oauth.token import TokenClient

        # Its own TLS context: httpx sets ALPN on the context it is given.
        return TokenClient(
            tls_context=client_context(self.config.ca_bundle),
            connect_timeout=self.config.connect_timeout, timeout=self.config.test_timeout,
            trust_source="SMTP_PROFILE_CA_BUNDLE"
            + (f" ({self.config.ca_bundle})" if self.config.ca_bundle else ""),
            cache=self.token_cache,
        )

    async def resolve(self, profile: Profile) -> Resolution:
        """Look the relay up once; `run(resolution=...)` then connects to these addresses."""
        host = ascii_host(profile.host or "")
        return await resolve_once(self.resolver, host, profile.port,
                                  self.config.connect_timeout)

    async def resolve_token_endpoint(self, profile: Profile) -> Resolution | None:
        """Look an OAuth profile's token endpoint up once; None without one."""
        if profile.auth_type is not AuthType.OAUTH or not profile.token_endpoint:
            return None
        _scheme, host, port, _path, _query = endpoint_destination(profile.token_endpoint)
        return await resolve_once(self.resolver, host, port, self.config.connect_timeout)

    async def run(self, profile: Profile, recipient: str, *, resolution: Resolution,
                  token_resolution: Resolution | None = None,
                  mode: TestMode = TestMode.SEND,
                  options: RelayOptions | None = None, test_id: str | None = None,
                  on_step: Callable[[StepResult], None] | None = None,
                  oauth_certificate: CertificateCredential | None = None,
                  client_certificate: ClientCertificate | None = None,
                  client_certificate_withheld: str | None = None) -> TestReport:
        """Talk to the relay in `profile` and report each step; never raises for SMTP.

        `oauth_certificate`: the OAuth certificate credential, used for the token request
        instead of the client secret when it is bound to `profile`.

        `resolution` (and `token_resolution` for OAuth) are the lookups the caller made
        and judged: the conversation connects to exactly those addresses and never looks
        a name up itself, so a name cannot answer differently the second time. A failed
        or empty lookup fails the `resolve` (or `token`) step. `on_step` is called as
        each step finishes, for live progress. `client_certificate` is presented when
        the relay asks for one (the caller checked its binding); `..._withheld` says
        why a stored one is not, for the report and the hints.
        """
        tls = profile.tls_mode(self.config.implicit_tls_ports)
        external = (client_certificate is not None and client_certificate.sasl_external
                    and profile.auth_type is AuthType.ANONYMOUS and tls is not TlsMode.NONE)
        plan = plan_steps(
            implicit_tls=tls is TlsMode.IMPLICIT,
            starttls=tls is TlsMode.STARTTLS,
            auth=profile.auth_type in (AuthType.BASIC, AuthType.OAUTH) or external,
            token=profile.auth_type is AuthType.OAUTH,
            mode=mode,
        )
        recorder = Recorder(test_id or new_test_id(), mode, plan, on_step,
                            redactor=profile_redactor(profile))
        conversation = _Conversation(self, profile, recipient, recorder,
                                     options or RelayOptions(), resolution, token_resolution,
                                     client_certificate, client_certificate_withheld,
                                     external)
        conversation.oauth_certificate = oauth_certificate
        deadline = asyncio.timeout(self.config.test_timeout)
        try:
            async with deadline:
                await conversation.run()
        except Exception as exc:  # a fault here must become a report, never a 500
            failure = self._failure(recorder, exc, out_of_time=deadline.expired())
            recorder.fail(conversation.client_certificate_hint(failure))
        finally:
            conversation.close()
        report = recorder.report()
        report.warnings.extend(self.warnings(profile, mode))
        for warning in report.warnings:
            report.transcript.append(f"-- warning: {warning.message}")
        return report

    def warnings(self, profile: Profile, mode: TestMode) -> list[StatusWarning]:
        """What the report warns about besides its steps: a provider's deadline for this
        authentication type, and what a verify run cannot prove at this provider."""
        found = deadline_warnings(catalogue(), host=profile.host,
                                  auth_type=int(profile.auth_type),
                                  today=self.clock().date())
        provider = catalogue().relay_provider(profile.host)
        if (mode is TestMode.VERIFY and provider is not None
                and provider.send_as_checked_after_data):
            found.append(StatusWarning(
                code="send-as-checked-after-data", severity=Severity.INFO,
                message=f"{provider.name} checks the right to send as SenderAccount only "
                "after DATA, when the message is submitted: this verify run stopped at RCPT "
                "TO, so it cannot prove that right. Only a send run (Mode send) proves it.",
                link=provider.link))
        return found

    def _failure(self, recorder: Recorder, exc: Exception, *,
                 out_of_time: bool) -> StepFailure:
        """What ended the conversation, as the failure of the step it belongs to.

        A StepFailure knows its step. The whole test running out of time fails the step
        it interrupted; anything else is a fault of this service, at the step that was
        running (or the next one, between steps).
        """
        if isinstance(exc, StepFailure):
            return exc
        step = recorder.running or recorder.next_step()
        if out_of_time:
            return diagnosis.timed_out(step, self.config.test_timeout)
        return recorder.internal(step, exc)


class _Conversation:
    def __init__(self, mailer: Mailer, profile: Profile, recipient: str,
                 recorder: Recorder, options: RelayOptions,
                 resolution: Resolution, token_resolution: Resolution | None,
                 client_certificate: ClientCertificate | None = None,
                 client_certificate_withheld: str | None = None,
                 sasl_external: bool = False) -> None:
        self.mailer = mailer
        self.config = mailer.config
        self.profile = profile
        self.recipient = recipient
        self.rec = recorder
        self.options = options
        self.resolution = resolution
        self.token_resolution = token_resolution
        self.host = ascii_host(profile.host or "")
        self.tls = profile.tls_mode(self.config.implicit_tls_ports)
        self.tls_context = mailer.trust.context_for(options)
        self.client_certificate = client_certificate
        self.client_certificate_withheld = client_certificate_withheld
        self.client_facts: dict[str, object] = (
            client_certificate.facts.to_details() if client_certificate else {})
        self.client_watch: HandshakeWatch | None = None
        self.client_error: OSError | ssl.SSLError | None = None
        self.handshake: Observation | None = None
        self.sasl_external = sasl_external
        if client_certificate is not None:
            try:
                self.tls_context, self.client_watch = mailer.trust.with_client_certificate(
                    options, client_certificate)
            except (OSError, ssl.SSLError) as exc:
                self.client_error = exc
        self.connection: RelayConnection | None = None
        self.oauth_certificate: CertificateCredential | None = None
        self.smtp: aiosmtplib.SMTP | None = None
        self.tls_active = False
        self.starttls_offered = False
        self.deadline_at = asyncio.get_running_loop().time() + self.config.test_timeout

    def close(self) -> None:
        """Release the connection on every path: success, failure, timeout, cancellation."""
        if self.connection is not None:
            self.connection.close()

    async def run(self) -> None:
        addresses = await self._resolve()
        connection = await self._connect(addresses)
        self.smtp = connection.smtp(
            hostname=self.host, use_tls=self.tls is TlsMode.IMPLICIT,
            tls_context=self.tls_context,
            timeout=self.config.test_timeout, local_hostname=self.mailer.local_hostname,
        )
        if self.tls is TlsMode.IMPLICIT:
            await self._implicit_tls_and_banner()
        else:
            await self._banner()
        await self._ehlo()
        if self.tls is TlsMode.STARTTLS:
            await self._starttls()
        if self.profile.auth_type in (AuthType.BASIC, AuthType.OAUTH) or self.sasl_external:
            await self._auth()
        env = envelope(self.profile.sender_account or "", self.recipient)
        message = build_test_message(self.profile, self.recipient, self.rec.test_id,
                                     datetime.now(UTC), env, self.tls)
        message_bytes = message.as_bytes()
        await self._mail_from(env.sender, env.smtputf8, len(message_bytes))
        await self._rcpt_to(env.recipient, env.smtputf8)
        if self.rec.mode is TestMode.SEND:
            await self._data(message_bytes, str(message["Message-ID"]))
        await self._quit()

    # -- steps ---------------------------------------------------------------------------

    async def _resolve(self) -> list[ResolvedAddress]:
        async with self.rec.step(StepName.RESOLVE) as step:
            resolution = self.resolution
            if resolution.host != self.host:  # judged for another name: connect to nothing
                raise diagnosis.wrong_resolution(resolution.host, self.host)
            step.details["lookup_ms"] = resolution.duration_ms
            if resolution.error is not None:
                raise diagnosis.resolve_failed(self.host, resolution.error)
            if not resolution.addresses:
                raise diagnosis.no_addresses(self.host)
            step.details["addresses"] = [a.ip for a in resolution.addresses]
        return resolution.addresses

    async def _connect(self, addresses: list[ResolvedAddress]) -> RelayConnection:
        timeout = self.config.connect_timeout
        async with self.rec.step(StepName.CONNECT) as step:
            attempts: list[tuple[str, BaseException]] = []
            for address in addresses:
                started = time.perf_counter()
                try:
                    connection = await RelayConnection.open(address, timeout)
                except (OSError, TimeoutError) as exc:
                    attempts.append((address.ip, exc))
                    continue
                self.connection = connection
                step.details["address"] = address.ip
                step.details["port"] = self.profile.port
                step.details["connect_ms"] = round((time.perf_counter() - started) * 1000, 1)
                if attempts:
                    step.details["failed_addresses"] = [ip for ip, _ in attempts]
                self.rec.note(f"connected to {address.ip} port {self.profile.port}")
                return connection
            others = None
            if any(isinstance(exc, TimeoutError) for _ip, exc in attempts):
                others = await self._probe_other_ports(addresses)
            raise diagnosis.connect_failed(self.profile.port, attempts, timeout, others)

    async def _probe_other_ports(self, addresses: list[ResolvedAddress],
                                 ) -> list[diagnosis.PortAnswer] | None:
        """The relay's port is silent: do the other usual submission ports of the same
        addresses answer? Within the outbound policy and a small time budget, all at
        once; None when no port may be tried or no time is left."""
        policy = self.config.outbound
        ports = [p for p in self.config.probe_ports if p != self.profile.port
                 and policy.refusal(self.host, p, [a.ip for a in addresses]) is None]
        left = self.deadline_at - asyncio.get_running_loop().time() - 0.5
        seconds = min(self.config.port_probe_seconds, left)
        if not ports or seconds <= 0:
            return None
        found = await probes.other_ports(addresses, ports, seconds)
        self.rec.note("the port is silent; other submission ports: " + ", ".join(
            f"{ip} {port} {result}" for ip, port, result in found))
        return [diagnosis.PortAnswer(ip, port, result) for ip, port, result in found]

    async def _banner(self) -> None:
        smtp = self._smtp()
        async with self.rec.step(StepName.BANNER) as step:
            try:
                reply = await smtp.connect(timeout=self.config.connect_timeout)
            except SMTPConnectResponseError:
                raise
            except SMTPConnectTimeoutError:
                speaks_tls = await probes.speaks_tls(self._address(), self.host,
                                                     _PROBE_TIMEOUT)
                raise diagnosis.silent_server(self.config.connect_timeout,
                                              speaks_tls=speaks_tls,
                                              port=self.profile.port) from None
            except SMTPConnectError:
                raise diagnosis.disconnected(StepName.BANNER, "the greeting") from None
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message

    async def _implicit_tls_and_banner(self) -> None:
        """TLS from the first byte: handshake, certificate and greeting in one call.

        aiosmtplib does the handshake and reads the greeting in `connect()`; which of the
        three failed is told apart by the exception it raises and its cause
        (`_implicit_connect_stage`), and each is then recorded as a step of its own.
        """
        smtp = self._smtp()
        greeting: SMTPResponse | None = None
        refusal: SMTPConnectError | SMTPResponseException | None = None
        async with self.rec.step(StepName.TLS) as step:
            if self.client_error is not None:
                raise diagnosis.client_certificate_unloadable(StepName.TLS, self.client_error)
            try:
                greeting = await smtp.connect(timeout=self.config.connect_timeout)
            except (SMTPConnectError, SMTPResponseException) as exc:
                refusal = exc
            stage = StepName.BANNER if refusal is None else _implicit_connect_stage(refusal)
            if refusal is not None and stage is StepName.TLS:
                raise await self._handshake_failure(refusal) from None
            if stage is StepName.BANNER:  # the handshake completed
                self.tls_active = True
                step.details.update(session_details(self._ssl_object()))
                step.details.update(self._client_certificate_details())
        async with self.rec.step(StepName.CERTIFICATE) as step:
            if refusal is not None and stage is StepName.CERTIFICATE:
                assert isinstance(refusal.__cause__, ssl.SSLCertVerificationError)
                raise await self._certificate_failure(refusal.__cause__) from None
            step.details.update(self._check_certificate())
            step.details.update(self._client_certificate_details())
        async with self.rec.step(StepName.BANNER) as step:
            if refusal is not None:
                raise self._tls_greeting_failure(refusal) from None
            assert greeting is not None
            self.rec.server(greeting.code, greeting.message)
            step.reply_code, step.reply_text = greeting.code, greeting.message
            step.details["measured_with"] = "tls"

    async def _handshake_failure(self, exc: SMTPConnectError | SMTPResponseException,
                                 ) -> StepFailure:
        """Why the implicit-TLS handshake failed: a timeout, OpenSSL's reason, or a hang-up."""
        if isinstance(exc, SMTPConnectTimeoutError):
            return diagnosis.tls_no_answer(self.config.connect_timeout)
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            if diagnosis.answered_in_plain_text(cause):
                greets = await probes.greets_in_plain_text(self._address(), _PROBE_TIMEOUT)
                return diagnosis.plaintext_reply_to_tls(cause, port=self.profile.port,
                                                        greets_smtp=greets)
            return diagnosis.tls_failed(StepName.TLS, cause)
        return diagnosis.tls_disconnected(implicit=True)

    def _tls_greeting_failure(self, exc: SMTPConnectError | SMTPResponseException,
                              ) -> StepFailure:
        """Why there is no greeting after a good handshake; a non-SMTP one is not echoed."""
        if isinstance(exc, SMTPResponseException):
            if exc.code < 0:
                return diagnosis.not_smtp_server(StepName.BANNER, "the TLS connection")
            self.rec.server(exc.code, exc.message)
            return diagnosis.reply_failed(StepName.BANNER, exc.code, exc.message)
        if isinstance(exc, SMTPConnectTimeoutError):
            return diagnosis.silent_server(self.config.connect_timeout, speaks_tls=True,
                                           port=self.profile.port)
        return diagnosis.disconnected(StepName.BANNER, "the greeting")

    async def _ehlo(self) -> None:
        smtp = self._smtp()
        async with self.rec.step(StepName.EHLO) as step:
            self.rec.client(f"EHLO {self.mailer.local_hostname}")
            reply = await smtp.ehlo()
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message.split("\n", 1)[0]
            step.details.update(self._extensions())
            self.starttls_offered = smtp.supports_extension("starttls")

    async def _starttls(self) -> None:
        smtp = self._smtp()
        certificate_error: ssl.SSLCertVerificationError | None = None
        async with self.rec.step(StepName.STARTTLS) as step:
            if not self.starttls_offered:
                raise diagnosis.starttls_not_offered()
            if self.client_error is not None:
                raise diagnosis.client_certificate_unloadable(StepName.STARTTLS,
                                                              self.client_error)
            self.rec.client("STARTTLS")
            try:
                reply = await smtp.starttls()
            except ssl.SSLCertVerificationError as exc:
                certificate_error = exc
            except ssl.SSLError as exc:
                raise diagnosis.tls_failed(StepName.STARTTLS, exc) from None
            except SMTPTimeoutError:
                raise diagnosis.read_timed_out(StepName.STARTTLS, "the TLS handshake") from None
            except SMTPServerDisconnected:
                raise diagnosis.tls_disconnected(implicit=False) from None
            if certificate_error is None:
                self.tls_active = True
                self.rec.server(reply.code, reply.message)
                step.reply_code, step.reply_text = reply.code, reply.message
                session = session_details(self._ssl_object())
                step.details.update(session)
                step.details.update(self._client_certificate_details())
                self.rec.note(f"TLS established ({session.get('protocol')}, "
                              f"{session.get('cipher')})")
                self.rec.client(f"EHLO {self.mailer.local_hostname}")
                ehlo = await smtp.ehlo()
                self.rec.server(ehlo.code, ehlo.message)
                step.details["after_tls"] = self._extensions()
        async with self.rec.step(StepName.CERTIFICATE) as step:
            if certificate_error is not None:
                raise await self._certificate_failure(certificate_error)
            step.details.update(self._check_certificate())
            step.details.update(self._client_certificate_details())

    async def _auth(self) -> None:
        smtp = self._smtp()
        if self.sasl_external:
            await self._auth_external()
            return
        if self.profile.auth_type is AuthType.OAUTH:
            from smtp_profile.mailer.xoauth2 import XOAuth2Login  # with the token client

            await XOAuth2Login(smtp, self.rec, self.mailer.tokens, self.profile,
                               self.token_resolution, tls_active=self.tls_active,
                               starttls_offered=self.starttls_offered,
                               now=self.mailer.clock(),
                               needed_seconds=max(
                                   self.deadline_at - asyncio.get_running_loop().time(),
                                   0.0),
                               certificate=self.oauth_certificate).run()
            return
        async with self.rec.step(StepName.AUTH) as step:
            if not smtp.supports_extension("auth"):
                raise diagnosis.auth_not_offered(tls_active=self.tls_active,
                                                 starttls_offered=self.starttls_offered)
            offered = [m.upper() for m in smtp.server_auth_methods]
            mechanism = self._mechanism(offered)
            username = self.profile.username or ""
            password = self.profile.password.reveal() if self.profile.password else ""
            step.details["mechanism"] = mechanism
            step.details["offered"] = offered
            if not self.tls_active:
                # Judged before anything is sent: a refused AUTH never leaves this machine.
                refusal = cleartext_refusal(self.config.cleartext_credentials,
                                            self._address().ip)
                if refusal is not None:
                    raise diagnosis.cleartext_refused(refusal, self.config.cleartext_credentials)
                step.details["warning"] = "credentials sent without TLS"
            self.rec.client_secret(f"AUTH {mechanism}")
            try:
                if mechanism == "PLAIN":
                    reply = await smtp.auth_plain(username, password)
                else:
                    reply = await smtp.auth_login(username, password)
            except SMTPResponseException as exc:
                self.rec.server(exc.code, exc.message)
                raise diagnosis.reply_failed(StepName.AUTH, exc.code, exc.message,
                                             tls_active=self.tls_active,
                                             mechanism=mechanism) from None
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message

    async def _auth_external(self) -> None:
        """SASL EXTERNAL (RFC 4422 appendix A): the identity is the TLS client
        certificate, so the initial response is empty (`=`). aiosmtplib has no EXTERNAL,
        so the command is sent here. Where the relay does not offer it, nothing is sent
        and the certificate alone must do (the step says so)."""
        smtp = self._smtp()
        async with self.rec.step(StepName.AUTH) as step:
            offered = [m.upper() for m in smtp.server_auth_methods]
            step.details["offered"] = offered
            if "EXTERNAL" not in offered:
                step.details["mechanism"] = None
                step.details["note"] = ("the relay does not offer AUTH EXTERNAL; relying on "
                                        "the client certificate alone")
                self.rec.note("AUTH EXTERNAL not offered; not sent")
                return
            step.details["mechanism"] = "EXTERNAL"
            self.rec.client("AUTH EXTERNAL =")
            reply = await smtp.execute_command(b"AUTH", b"EXTERNAL", b"=")
            self.rec.server(reply.code, reply.message)
            if reply.code != 235:
                raise diagnosis.reply_failed(StepName.AUTH, reply.code, reply.message,
                                             tls_active=self.tls_active)
            step.reply_code, step.reply_text = reply.code, reply.message

    def _mechanism(self, offered: list[str]) -> str:
        chosen = self.options.mechanism
        if chosen is not Mechanism.AUTO:
            if chosen.value not in offered:
                raise diagnosis.mechanism_not_offered(chosen.value, offered)
            return chosen.value
        mechanism = next((m for m in SUPPORTED_MECHANISMS if m in offered), None)
        if mechanism is None:
            raise diagnosis.no_common_mechanism(offered, list(SUPPORTED_MECHANISMS))
        return mechanism

    async def _mail_from(self, sender: str, smtputf8: bool, size: int) -> None:
        smtp = self._smtp()
        async with self.rec.step(StepName.MAIL_FROM) as step:
            options: list[str] = []
            if smtputf8:
                if not smtp.supports_extension("smtputf8"):
                    raise diagnosis.smtputf8_unsupported()
                options.append("SMTPUTF8")
                if smtp.supports_extension("8bitmime"):
                    options.append("BODY=8BITMIME")
            if smtp.supports_extension("size"):
                options.append(f"SIZE={size}")
            self.rec.client(" ".join([f"MAIL FROM:<{sender}>", *options]))
            try:
                reply = await smtp.mail(sender, options=options,
                                        encoding="utf-8" if smtputf8 else "ascii")
            except SMTPResponseException as exc:
                self.rec.server(exc.code, exc.message)
                raise diagnosis.reply_failed(
                    StepName.MAIL_FROM, exc.code, exc.message, sender=self.profile.sender_account,
                    username=self.profile.username if self.profile.auth_type else None,
                ) from None
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message

    async def _rcpt_to(self, recipient: str, smtputf8: bool) -> None:
        smtp = self._smtp()
        async with self.rec.step(StepName.RCPT_TO) as step:
            self.rec.client(f"RCPT TO:<{recipient}>")
            reply = await smtp.rcpt(recipient, encoding="utf-8" if smtputf8 else "ascii")
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message

    async def _data(self, message: bytes, message_id: str) -> None:
        smtp = self._smtp()
        async with self.rec.step(StepName.DATA) as step:
            self.rec.client("DATA")
            self.rec.note(f"message of {len(message)} bytes, Message-ID {message_id}")
            reply = await smtp.data(message)
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message
            step.details["message_id"] = message_id
            step.details["bytes"] = len(message)

    async def _quit(self) -> None:
        smtp = self._smtp()
        async with self.rec.step(StepName.QUIT) as step:
            if self.rec.mode is TestMode.VERIFY:
                self.rec.client("RSET")
                reset = await smtp.rset()
                self.rec.server(reset.code, reset.message)
            self.rec.client("QUIT")
            reply = await smtp.quit()
            self.rec.server(reply.code, reply.message)
            step.reply_code, step.reply_text = reply.code, reply.message

    # -- certificates ----------------------------------------------------------------------

    def _check_certificate(self) -> dict[str, object]:
        """Details of the certificate just accepted by the handshake; enforces a pin.

        With a pin or the insecure setting the handshake verified nothing, so the pin is
        checked here, before any credential is sent.
        """
        der = peer_der(self._ssl_object())
        details: dict[str, object] = certificates.describe(der, self.host) if der else {}
        mode = self.options.trust_mode
        details["trust"] = mode.value
        if mode is TrustMode.PINNED:
            pin = self.options.pinned_sha256 or ""
            if details.get("sha256") != pin:
                raise diagnosis.pin_mismatch(pin, details)
            details["trusted"] = True
        elif mode is TrustMode.INSECURE:
            details["trusted"] = False
            details["warning"] = "certificate not verified (insecure setting)"
        else:
            details["trusted"] = True
        return details

    async def _certificate_failure(self, exc: ssl.SSLCertVerificationError) -> StepFailure:
        der = await probes.fetch_certificate(
            self._address(), self.host, implicit=self.tls is TlsMode.IMPLICIT,
            context=self.mailer.trust.unverified, local_hostname=self.mailer.local_hostname,
            seconds=_PROBE_TIMEOUT)
        details = certificates.describe(der, self.host) if der else {}
        return diagnosis.certificate_failed(exc, self.host,
                                            self.mailer.trust.source(self.options), details)

    # -- the client certificate ------------------------------------------------------------

    def _observation(self) -> Observation:
        if self.client_watch is not None and self.client_watch.latest is not None:
            return self.client_watch.latest
        if self.smtp is None or self.smtp.transport is None:
            return Observation(supported=False)
        return self.mailer.trust.watch.observed(self._ssl_object())

    def _client_certificate_details(self) -> dict[str, object]:
        """Which client certificate was presented and whether the relay asked for one."""
        observation = self._observation()
        self.handshake = observation
        if self.client_certificate is None and not self.client_certificate_withheld \
                and not observation.requested:
            return {}  # nothing to say: none set, none asked for
        info: dict[str, object] = {"configured": self.client_certificate is not None,
                                   **observation.to_details()}
        if self.client_certificate is not None:
            info.update(self.client_facts)
            presented = observation.sent_certificate if observation.supported else None
            info["presented"] = presented
            if observation.supported and not observation.requested:
                info["note"] = ("the relay did not ask for a client certificate, so it was "
                                "not presented: whatever the relay allows, it allows "
                                "without it")
        elif self.client_certificate_withheld:
            info["withheld"] = self.client_certificate_withheld
        if not observation.supported:
            info["requested_note"] = ("this Python's ssl module cannot show the handshake's "
                                      "messages, so whether the relay asked is unknown")
        return {"client_certificate": info}

    def client_certificate_hint(self, failure: StepFailure) -> StepFailure:
        """`failure` with a hint about the client certificate, where the handshake
        explains it: refused with an alert, dropped after it was sent, asked for but
        missing, never asked for, or received but not admitted."""
        if failure.internal:
            return failure
        observation = self.handshake
        if observation is None and self.client_watch is not None:
            observation = self.client_watch.latest
        if observation is None or not observation.supported:
            return failure
        refused_at = failure.step in (StepName.TLS, StepName.STARTTLS, StepName.BANNER,
                                      StepName.EHLO, StepName.CERTIFICATE)
        denied = failure.step in (StepName.MAIL_FROM, StepName.RCPT_TO, StepName.AUTH,
                                  StepName.DATA)
        if self.client_certificate is not None and observation.alerts:
            return diagnosis.client_certificate_refused(failure, self.client_facts,
                                                        observation.alert_names())
        if self.client_certificate is not None and observation.sent_certificate \
                and refused_at and failure.reply_code is None:
            expired = self.client_certificate.facts.not_after < datetime.now(UTC)
            return diagnosis.client_certificate_dropped(
                failure, {**self.client_facts, "expired": expired})
        if not observation.requested:
            if self.client_certificate is not None and denied:
                return diagnosis.client_certificate_not_requested(failure)
            return failure
        if self.client_certificate is None and (denied or refused_at):
            return diagnosis.client_certificate_missing(failure,
                                                        self.client_certificate_withheld)
        if self.client_certificate is not None and denied:
            return diagnosis.client_certificate_not_admitted(failure, self.client_facts)
        return failure

    # -- helpers -------------------------------------------------------------------------

    def _smtp(self) -> aiosmtplib.SMTP:
        assert self.smtp is not None
        return self.smtp

    def _address(self) -> ResolvedAddress:
        assert self.connection is not None
        return self.connection.address

    def _ssl_object(self) -> ssl.SSLObject | None:
        transport = self._smtp().transport
        return transport.get_extra_info("ssl_object") if transport is not None else None

    def _extensions(self) -> dict[str, object]:
        smtp = self._smtp()
        return {
            "extensions": sorted(name.upper() for name in smtp.esmtp_extensions),
            "auth_mechanisms": [m.upper() for m in smtp.server_auth_methods],
            "size_limit": _size_limit(smtp.esmtp_extensions.get("size")),
        }


def _implicit_connect_stage(exc: SMTPConnectError | SMTPResponseException) -> StepName:
    """The stage an implicit-TLS `connect()` failed at, told by the exception's type and
    cause, as aiosmtplib 5.x (`SMTP._create_connection`) raises them:

    - a reply other than 220 (SMTPConnectResponseError), or a line that is no SMTP reply
      (SMTPResponseException, code -1): the greeting;
    - SMTPConnectTimeoutError from SMTPReadTimeoutError: no greeting in time (from a bare
      TimeoutError instead: no answer to the handshake);
    - SMTPConnectError from SMTPServerDisconnected: closed before the greeting;
    - SMTPConnectError from ssl.SSLCertVerificationError: the certificate;
    - any other SMTPConnectError (from ssl.SSLError, ConnectionResetError, ...): the
      handshake.
    """
    if isinstance(exc, SMTPResponseException):
        return StepName.BANNER
    cause = exc.__cause__
    if isinstance(cause, SMTPTimeoutError | SMTPServerDisconnected):
        return StepName.BANNER
    if isinstance(cause, ssl.SSLCertVerificationError):
        return StepName.CERTIFICATE
    return StepName.TLS


def _size_limit(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
