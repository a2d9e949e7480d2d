"""The provider catalogue, entry by entry: a loopback relay (or identity provider) answers
with the provider's reply at its step, and the report's hint is the catalogue's.

Every entry of the shipped catalogue has a case here (a test checks that), so an entry
that stops matching the reply it was written for fails the build. The relays are named
as the providers name them (smtp.office365.com, smtp.gmail.com), resolved to 127.0.0.1
by the injected resolver, with a certificate for those names from the test CA.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.providers import CatalogueError, parse_catalogue
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.steps import StepName, StepStatus
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.mailer.catalogue import catalogue
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.providers import (
    PROVIDER_NAMES,
    ProviderRelay,
    Scripted,
    microsoft_token,
    provider_context,
)
from tests.support.resolver import StaticResolver
from tests.support.smtp import Behaviour, LoopThread

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
SECRET = "Catalogue-Client-Secret-Canary"
PASSWORD = "Catalogue-Password-Canary"
RECIPIENT = "pki-admin@corp.local"
MICROSOFT, GOOGLE = "smtp.office365.com", "smtp.gmail.com"


@dataclass(frozen=True)
class Case:
    """One catalogue entry, played: the relay host, the auth type, the step and the reply
    (or, for the token step, the identity provider's HTTP status and JSON error)."""

    entry: str
    host: str
    auth_type: int
    step: StepName
    reply: str = ""
    token_error: tuple[int, dict[str, str]] | None = None


SMTP_CASES = [
    Case("microsoft-smtp-auth-disabled", MICROSOFT, 2, StepName.AUTH,
         "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
         "the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."),
    Case("microsoft-basic-auth-removed", MICROSOFT, 2, StepName.AUTH,
         "550 5.7.30 Basic authentication is not supported for Client Submission."),
    Case("microsoft-xoauth2-token-refused", MICROSOFT, 3, StepName.AUTH,
         "535 5.7.3 Authentication unsuccessful [SN4PR0201CA0061.namprd02.prod.outlook.com]"),
    Case("microsoft-mailbox-logon-failure", MICROSOFT, 3, StepName.AUTH,
         "430 4.2.0 STOREDRV; mailbox logon failure"),
    Case("microsoft-send-as-denied", MICROSOFT, 0, StepName.DATA,
         "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAs"
         "Denied; Failed to process message due to a permanent exception with message "
         "Cannot submit message."),
    Case("microsoft-submission-quota", MICROSOFT, 0, StepName.DATA,
         "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed "
         "to process message due to a permanent exception with message Message rejected"),
    Case("microsoft-sender-thread-limit", MICROSOFT, 0, StepName.DATA,
         "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"),
    Case("microsoft-client-not-authenticated", MICROSOFT, 0, StepName.MAIL_FROM,
         "530 5.7.57 Client not authenticated to send mail. [AM0PR02CA0123]"),
    Case("microsoft-mechanism-not-enabled", MICROSOFT, 2, StepName.AUTH,
         "504 5.7.4 Unrecognized authentication type"),
    Case("microsoft-tenant-inbound-attribution", MICROSOFT, 0, StepName.RCPT_TO,
         "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization "
         "from unauthorized sources"),
    Case("gmail-app-password-required", GOOGLE, 2, StepName.AUTH,
         "534-5.7.9 Application-specific password required. For more information, go to\r\n"
         "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor"),
    Case("gmail-credentials-not-accepted", GOOGLE, 2, StepName.AUTH,
         "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
         "535 5.7.8  https://support.google.com/mail/?p=BadCredentials"),
]

TOKEN_CASES = [
    Case("entra-client-secret-expired", MICROSOFT, 3, StepName.TOKEN, token_error=(401, {
        "error": "invalid_client", "error_description": "AADSTS7000222: The provided client "
        "secret keys for app '3f1b9c56' are expired."})),
    Case("entra-invalid-client-secret", MICROSOFT, 3, StepName.TOKEN, token_error=(401, {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided."})),
    Case("entra-unknown-application", MICROSOFT, 3, StepName.TOKEN, token_error=(400, {
        "error": "unauthorized_client", "error_description": "AADSTS700016: Application "
        "with identifier '3f1b9c56' was not found in the directory 'contoso'."})),
    Case("entra-unknown-tenant", MICROSOFT, 3, StepName.TOKEN, token_error=(400, {
        "error": "invalid_request",
        "error_description": "AADSTS90002: Tenant 'contoso.example' not found."})),
    Case("google-invalid-grant", GOOGLE, 3, StepName.TOKEN, token_error=(400, {
        "error": "invalid_grant", "error_description": "Invalid JWT Signature."})),
    Case("google-unauthorized-client", GOOGLE, 3, StepName.TOKEN, token_error=(401, {
        "error": "unauthorized_client", "error_description": "Client is unauthorized to "
        "retrieve access tokens using this method, or client not authorized for any of the "
        "scopes requested."})),
]


@pytest.fixture(scope="module")
def provider_tls(ca: trustme.CA) -> ssl.SSLContext:
    return provider_context(ca)


@pytest.fixture
def provider_relay(loop_thread: LoopThread, provider_tls: ssl.SSLContext,
                   ) -> Iterator[Callable[..., ProviderRelay]]:
    servers: list[ProviderRelay] = []

    def make(scripted: Scripted | None, behaviour: Behaviour) -> ProviderRelay:
        server = ProviderRelay(loop_thread, provider_tls, behaviour, scripted)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def mailer(ca_bundle: Path) -> Mailer:
    """One for the module, as in the service (building the trust stores takes a while);
    each test's token endpoint has its own port, so no cached token crosses tests."""
    resolver = StaticResolver({name: ["127.0.0.1"] for name in PROVIDER_NAMES})
    return Mailer(MailerConfig(connect_timeout=2.0, test_timeout=8.0, ca_bundle=ca_bundle,
                               local_hostname="client.test"), resolver=resolver,
                  clock=lambda: NOW)


def profile_for(host: str, port: int, auth_type: int, token_url: str | None = None,
                **overrides: Any) -> Profile:
    draft = ProfileDraft(host=host, port=port, auth_type=auth_type, use_ssl=True,
                         sender_account="svc@contoso.example", sender_name="PKI")
    if auth_type == 2:
        draft = replace(draft, username="svc@contoso.example", password=Secret(PASSWORD))
    if auth_type == 3:
        draft = replace(draft, client_id="client-1", client_secret=Secret(SECRET),
                        token_endpoint=token_url,
                        scope="https://outlook.office365.com/.default")
    return build_profile(replace(draft, **overrides), Profile())


def run(mailer: Mailer, profile: Profile) -> Report:
    async def go() -> Report:
        return await mailer.run(profile, RECIPIENT, resolution=await mailer.resolve(profile),
                                token_resolution=await mailer.resolve_token_endpoint(profile))
    return asyncio.run(go())


def token_issuer() -> Issuer:
    return Issuer(client_id="client-1", client_secret=SECRET,
                  scope="https://outlook.office365.com/.default",
                  tokens=[microsoft_token(NOW)])


def assert_catalogued(report: Report, case: Case) -> None:
    entry = catalogue().entry(case.entry)
    failed = report.failed_step
    assert failed is not None, report.transcript
    assert failed.name is case.step, (failed.name, failed.message)
    assert failed.hint == entry.full_hint
    assert failed.details["catalogue_entry"] == entry.id
    assert failed.details["catalogue_version"] == catalogue().version
    assert entry.meaning in (failed.message or "")
    if entry.link:
        assert failed.details["documentation"] == entry.link
    for secret in (SECRET, PASSWORD):
        assert secret not in repr(report)


def test_every_catalogue_entry_has_its_case() -> None:
    assert {c.entry for c in SMTP_CASES + TOKEN_CASES} == {e.id for e in catalogue().replies}


@pytest.mark.parametrize("case", SMTP_CASES, ids=lambda c: c.entry)
def test_a_provider_reply_gets_the_catalogues_hint(
        case: Case, mailer: Mailer, provider_relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(token_issuer())
    relay = provider_relay(
        Scripted(case.step.value, case.reply),
        Behaviour(users={"svc@contoso.example": PASSWORD},
                  xoauth2_tokens=frozenset() if case.auth_type == 3 else None))
    report = run(mailer, profile_for(case.host, relay.port, case.auth_type, endpoint.url))
    assert_catalogued(report, case)
    code = int(case.reply[:3])
    failed = report.failed_step
    assert failed is not None and failed.reply_code == code


@pytest.mark.parametrize("case", TOKEN_CASES, ids=lambda c: c.entry)
def test_an_identity_providers_error_gets_the_catalogues_hint(
        case: Case, mailer: Mailer, provider_relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    assert case.token_error is not None
    status, body = case.token_error
    issuer = token_issuer()
    issuer.raw_answer = (status, json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
    endpoint = token_endpoint(issuer)
    relay = provider_relay(None, Behaviour(xoauth2_tokens=frozenset()))
    report = run(mailer, profile_for(case.host, relay.port, 3, endpoint.url))
    assert_catalogued(report, case)
    assert relay.behaviour.xoauth2_attempts == []


# -- where the catalogue does not apply, the generic hint stays --------------------------

def test_an_unknown_refusal_keeps_the_generic_hint_then_a_good_login_passes(
        mailer: Mailer, provider_relay: Callable[..., ProviderRelay]) -> None:
    relay = provider_relay(None, Behaviour(users={"svc@contoso.example": PASSWORD}))
    wrong = run(mailer, profile_for("mail.test", relay.port, 2, password=Secret("nope")))
    failed = wrong.failed_step
    assert failed is not None and failed.name is StepName.AUTH
    assert failed.hint is not None and failed.hint.startswith("Check RelayUsername")
    assert "catalogue_entry" not in failed.details
    right = run(mailer, profile_for("mail.test", relay.port, 2))
    assert right.success, right.failure_summary()


def test_a_bare_oauth_error_from_an_unknown_provider_keeps_the_generic_hint(
        mailer: Mailer, provider_relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    """`invalid_grant` means Google's causes only when Google answered."""
    issuer = token_issuer()
    issuer.raw_answer = (400, b'{"error": "invalid_grant"}',
                         {"Content-Type": "application/json"})
    endpoint = token_endpoint(issuer)
    relay = provider_relay(None, Behaviour(xoauth2_tokens=frozenset({microsoft_token(NOW)})))
    report = run(mailer, profile_for("mail.test", relay.port, 3, endpoint.url))
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.TOKEN
    assert "catalogue_entry" not in failed.details
    assert failed.hint is not None and "refused the grant" in failed.hint
    issuer.raw_answer = None
    report = run(mailer, profile_for("mail.test", relay.port, 3, endpoint.url))
    assert report.success, report.failure_summary()
    token = report.step(StepName.TOKEN)
    assert token is not None and token.status is StepStatus.OK


def test_a_reply_at_another_step_is_not_matched() -> None:
    """5.7.57 explains MAIL FROM, not RCPT TO."""
    assert catalogue().reply(StepName.MAIL_FROM, 530, "5.7.57 Client not authenticated")
    assert catalogue().reply(StepName.RCPT_TO, 530, "5.7.57 Client not authenticated") is None
    assert catalogue().reply(StepName.AUTH, 535, "5.7.3 Authentication unsuccessful",
                             mechanism="PLAIN") is None


def test_the_catalogue_is_versioned_and_refuses_a_broken_file() -> None:
    assert catalogue().version
    with pytest.raises(CatalogueError):
        parse_catalogue({"providers": {}, "replies": []})
    with pytest.raises(CatalogueError, match="unknown provider"):
        parse_catalogue({"version": "1", "providers": {}, "replies": [
            {"id": "x", "provider": "nobody", "steps": ["auth"], "meaning": "m",
             "hint": "h"}]})


def test_the_catalogue_ships_in_the_wheel() -> None:
    """pyproject's package data takes the JSON file along."""
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"mailer/catalogue/*.json"' in text
