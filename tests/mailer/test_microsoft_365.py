"""Microsoft 365 as a new user meets it: the access token read at the token step, the
verify-mode caveat, and Microsoft's dates for Basic authentication.

The relay is a loopback aiosmtpd named smtp.office365.com (the injected resolver maps the
name to 127.0.0.1, the test CA certifies it), so the service treats it as Exchange
Online; a loopback token endpoint issues tokens with Entra ID's claim shapes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.steps import StepName, StepStatus
from smtp_profile.domain.steps import TestMode as Mode
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.domain.warnings import Severity
from smtp_profile.mailer.catalogue import catalogue
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.providers import (
    APP_ID,
    PROVIDER_NAMES,
    TENANT,
    ProviderRelay,
    Scripted,
    microsoft_token,
    provider_context,
)
from tests.support.resolver import StaticResolver
from tests.support.smtp import Behaviour, LoopThread

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
AFTER = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
SECRET = "M365-Client-Secret-Canary"
PASSWORD = "M365-Password-Canary"
RECIPIENT = "pki-admin@contoso.example"
MAILBOX = "svc@contoso.example"
SCOPE = "https://outlook.office365.com/.default"


class Clock:
    """The mailer's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def provider_tls(ca: trustme.CA) -> ssl.SSLContext:
    return provider_context(ca)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture(scope="module")
def mailer(ca_bundle: Path, clock: Clock) -> Mailer:
    resolver = StaticResolver({name: ["127.0.0.1"] for name in PROVIDER_NAMES})
    return Mailer(MailerConfig(connect_timeout=2.0, test_timeout=8.0, ca_bundle=ca_bundle,
                               local_hostname="client.test"), resolver=resolver, clock=clock)


@pytest.fixture(autouse=True)
def back_to_now(clock: Clock) -> None:
    clock.now = NOW


@pytest.fixture
def relay(loop_thread: LoopThread, provider_tls: ssl.SSLContext,
          ) -> Iterator[Callable[..., ProviderRelay]]:
    servers: list[ProviderRelay] = []

    def make(behaviour: Behaviour, scripted: Scripted | None = None) -> ProviderRelay:
        server = ProviderRelay(loop_thread, provider_tls, behaviour, scripted)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def oauth(port: int, endpoint: TokenEndpoint, host: str = "smtp.office365.com") -> Profile:
    return build_profile(ProfileDraft(
        host=host, port=port, auth_type=3, use_ssl=True, sender_account=MAILBOX,
        sender_name="PKI", client_id="client-1", client_secret=Secret(SECRET),
        token_endpoint=endpoint.url, scope=SCOPE), Profile())


def basic(port: int, host: str = "smtp.office365.com", **overrides: Any) -> Profile:
    draft = ProfileDraft(host=host, port=port, auth_type=2, use_ssl=True,
                         sender_account=MAILBOX, sender_name="PKI", username=MAILBOX,
                         password=Secret(PASSWORD))
    return build_profile(replace(draft, **overrides), Profile())


def issuer(*tokens: str) -> Issuer:
    return Issuer(client_id="client-1", client_secret=SECRET, scope=SCOPE,
                  tokens=list(tokens))


def run(mailer: Mailer, profile: Profile, mode: Mode = Mode.SEND) -> Report:
    async def go() -> Report:
        return await mailer.run(profile, RECIPIENT, resolution=await mailer.resolve(profile),
                                token_resolution=await mailer.resolve_token_endpoint(profile),
                                mode=mode)
    return asyncio.run(go())


def token_details(report: Report) -> dict[str, Any]:
    step = report.step(StepName.TOKEN)
    assert step is not None and step.status is StepStatus.OK, report.failure_summary()
    return step.details


def assert_secret_free(report: Report, token: str) -> None:
    text = repr(report)
    for value in (token, *token.split("."), SECRET, PASSWORD):
        assert value not in text


# -- 1. the access token, read -------------------------------------------------------------

def test_the_token_step_reports_audience_tenant_app_roles_and_lifetime(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    canary = "Claim-Canary-upn@contoso.example"
    token = microsoft_token(NOW, upn=canary, unique_name=canary)
    server = relay(Behaviour(xoauth2_tokens=frozenset({token})))
    report = run(mailer, oauth(server.port, token_endpoint(issuer(token))))
    assert report.success, report.failure_summary()
    assert canary not in repr(report)  # only the claims that explain a refusal are shown
    details = token_details(report)
    assert details["access_token"] == {
        "format": "jwt", "audience": ["https://outlook.office365.com"], "tenant": TENANT,
        "app_id": APP_ID, "roles": ["SMTP.SendAsApp"], "scopes": [],
        "expires_at": (NOW + timedelta(hours=1)).isoformat(), "lifetime_s": 3600.0}
    assert "warnings" not in details
    assert_secret_free(report, token)


def test_tried_as_a_new_user_the_missing_permission_is_named_at_token_before_auth_fails(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    """Graph's Mail.Send granted instead of SMTP.SendAsApp; Exchange answers 535 5.7.3."""
    graph_only = microsoft_token(NOW, roles=("Mail.Send",))
    refusing = relay(Behaviour(xoauth2_tokens=frozenset()),
                     Scripted("auth", "535 5.7.3 Authentication unsuccessful"))
    endpoint = token_endpoint(issuer(graph_only))
    report = run(mailer, oauth(refusing.port, endpoint))
    names = [s.name for s in report.steps]
    assert names.index(StepName.TOKEN) < names.index(StepName.AUTH)
    [finding] = token_details(report)["warnings"]
    assert "does not carry the application permission SMTP.SendAsApp" in finding
    assert "Mail.Send is there, but that permission is for Microsoft Graph" in finding
    assert "-- warning: the access token does not carry" in "\n".join(report.transcript)
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.AUTH
    assert failed.hint is not None
    assert failed.hint.startswith(catalogue().entry("microsoft-xoauth2-token-refused").hint)
    assert "The token step found: the access token does not carry" in failed.hint
    assert_secret_free(report, graph_only)
    # The administrator grants SMTP.SendAsApp; the same mailer then passes.
    granted = microsoft_token(NOW + timedelta(seconds=1))
    endpoint.issuer.tokens = [granted]
    accepting = relay(Behaviour(xoauth2_tokens=frozenset({granted})))
    mailer.tokens.cache.clear()
    report = run(mailer, oauth(accepting.port, endpoint))
    assert report.success, report.failure_summary()
    assert "warnings" not in token_details(report)


def test_a_microsoft_graph_token_is_named_as_one(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    token = microsoft_token(NOW, audience="https://graph.microsoft.com", roles=("Mail.Send",))
    server = relay(Behaviour(xoauth2_tokens=frozenset()))
    report = run(mailer, oauth(server.port, token_endpoint(issuer(token))))
    audience, _permission = token_details(report)["warnings"]
    assert audience.startswith("the access token is for https://graph.microsoft.com, not for "
                               "https://outlook.office365.com (it is a Microsoft Graph token)")
    assert audience.endswith(f"set Scope to {SCOPE}")


def test_another_relay_is_not_held_to_microsofts_rules(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    token = microsoft_token(NOW, audience="https://graph.microsoft.com", roles=("Mail.Send",))
    server = relay(Behaviour(xoauth2_tokens=frozenset({token})))
    report = run(mailer, oauth(server.port, token_endpoint(issuer(token)), host="mail.test"))
    assert report.success, report.failure_summary()
    details = token_details(report)
    assert details["access_token"]["audience"] == ["https://graph.microsoft.com"]
    assert "warnings" not in details


def test_a_token_that_expires_before_the_test_could_finish_is_named(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    token = microsoft_token(NOW, lifetime=3)
    server = relay(Behaviour(xoauth2_tokens=frozenset({token})))
    report = run(mailer, oauth(server.port, token_endpoint(issuer(token))))
    [finding] = token_details(report)["warnings"]
    assert finding.startswith("the access token expires in 3 s, before the test could finish")


def test_an_opaque_token_is_reported_as_opaque_not_as_an_error(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    server = relay(Behaviour(xoauth2_tokens=frozenset({"opaque-token-1"})))
    report = run(mailer, oauth(server.port, token_endpoint(issuer("opaque-token-1"))))
    assert report.success, report.failure_summary()
    assert token_details(report)["access_token"] == {"format": "opaque"}
    assert "-- the access token is opaque (not a JWT); its rights are not shown" in \
        report.transcript


# -- 3. verify mode tells the truth about Microsoft ----------------------------------------

def test_a_verify_run_against_exchange_online_says_it_cannot_prove_send_as_rights(
        mailer: Mailer, relay: Callable[..., ProviderRelay]) -> None:
    server = relay(Behaviour(users={MAILBOX: PASSWORD}))
    verify = run(mailer, basic(server.port), Mode.VERIFY)
    assert verify.success, verify.failure_summary()
    caveat = [w for w in verify.warnings if w.code == "send-as-checked-after-data"]
    assert len(caveat) == 1 and caveat[0].severity is Severity.INFO
    assert "only after DATA" in caveat[0].message
    assert "Only a send run (Mode send) proves it." in caveat[0].message
    assert f"-- warning: {caveat[0].message}" in verify.transcript
    send = run(mailer, basic(server.port), Mode.SEND)
    assert send.success and server.received
    assert all(w.code != "send-as-checked-after-data" for w in send.warnings)


def test_a_verify_run_elsewhere_has_no_such_caveat(
        mailer: Mailer, relay: Callable[..., ProviderRelay]) -> None:
    server = relay(Behaviour(users={MAILBOX: PASSWORD}))
    report = run(mailer, basic(server.port, host="mail.test"), Mode.VERIFY)
    assert report.success and report.warnings == []


# -- 4. Microsoft's dates for Basic authentication -------------------------------------------

def test_basic_auth_to_exchange_online_warns_with_microsofts_dates(
        mailer: Mailer, clock: Clock, relay: Callable[..., ProviderRelay]) -> None:
    server = relay(Behaviour(users={MAILBOX: PASSWORD}))
    before = run(mailer, basic(server.port))
    [warning] = before.warnings
    assert warning.code == "microsoft-basic-auth-retirement"
    assert warning.severity is Severity.WARNING and warning.date == date(2026, 12, 31)
    assert "until the end of December 2026 (29 days left)" in warning.message
    assert "second half of 2027" in warning.message
    assert "RelayAuthenticationType 3" in warning.message
    clock.now = AFTER
    [after] = run(mailer, basic(server.port)).warnings
    assert after.severity is Severity.CRITICAL
    assert after.message.startswith("Since the end of December 2026")
    assert "RelayAuthenticationType 3" in after.message


def test_oauth_to_exchange_online_has_no_deadline(
        mailer: Mailer, relay: Callable[..., ProviderRelay],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    token = microsoft_token(NOW)
    server = relay(Behaviour(xoauth2_tokens=frozenset({token})))
    report = run(mailer, oauth(server.port, token_endpoint(issuer(token))))
    assert report.success and report.warnings == []
