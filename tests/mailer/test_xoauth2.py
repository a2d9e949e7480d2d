"""The token and AUTH XOAUTH2 steps of a test conversation, against real servers.

A real token endpoint (HTTP on 127.0.0.1) issues tokens; a real aiosmtpd relay accepts
only the tokens it is given. The report is inspected step by step, with its transcript.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.steps import StepName, StepStatus
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from smtp_profile.mailer.xoauth2 import sasl_response
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.resolver import StaticResolver
from tests.support.smtp import Behaviour, SmtpServer

SECRET = "Client-Secret-Canary-91c3"
TOKEN = "Access-Token-Canary-1"
RECIPIENT = "pki-admin@corp.local"


@pytest.fixture
def mailer(ca_bundle: Path, resolver: StaticResolver) -> Mailer:
    return Mailer(MailerConfig(connect_timeout=2.0, test_timeout=6.0, ca_bundle=ca_bundle,
                               local_hostname="client.test"), resolver=resolver)


def oauth_profile(relay: SmtpServer, endpoint: TokenEndpoint, **overrides: Any) -> Profile:
    draft = ProfileDraft(
        host="mail.test", port=relay.port, auth_type=3, use_ssl=True,
        sender_account="svc@corp.local", sender_name="KF", client_id="client-1",
        client_secret=Secret(SECRET), token_endpoint=endpoint.url,
        scope="https://outlook.office365.com/.default")
    return build_profile(replace(draft, **overrides), Profile())


def issuer(**overrides: Any) -> Issuer:
    values: dict[str, Any] = {"client_id": "client-1", "client_secret": SECRET,
                              "scope": "https://outlook.office365.com/.default",
                              "tokens": [TOKEN]}
    values.update(overrides)
    return Issuer(**values)


async def looked_up_and_run(mailer: Mailer, profile: Profile) -> Report:
    """Look relay and token endpoint up once, as the service does, then run the test."""
    return await mailer.run(profile, RECIPIENT, resolution=await mailer.resolve(profile),
                            token_resolution=await mailer.resolve_token_endpoint(profile))


def run(mailer: Mailer, profile: Profile) -> Report:
    return asyncio.run(looked_up_and_run(mailer, profile))


def statuses(report: Report) -> dict[str, str]:
    return {step.name.value: step.status.value for step in report.steps}


def assert_no_credentials(report: Report, *values: str) -> None:
    text = repr(report)
    for value in (SECRET, TOKEN, *values):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    assert sasl_response("svc@corp.local", Secret(TOKEN)).decode() not in text


# -- success -----------------------------------------------------------------------------

def test_starttls_token_then_xoauth2(mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
                                     smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer())
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    report = run(mailer, oauth_profile(relay, endpoint))
    assert report.success, report.failure_summary()
    assert [s.name for s in report.steps][-6:] == [
        StepName.TOKEN, StepName.AUTH, StepName.MAIL_FROM, StepName.RCPT_TO, StepName.DATA,
        StepName.QUIT]
    assert set(statuses(report).values()) == {"ok"}
    token_step = report.step(StepName.TOKEN)
    assert token_step is not None
    assert token_step.details == {"endpoint": endpoint.url, "cached": False,
                                  "expires_in": 3600.0, "access_token": {"format": "opaque"}}
    auth = report.step(StepName.AUTH)
    assert auth is not None and auth.reply_code == 235
    assert auth.details == {"mechanism": "XOAUTH2", "user": "svc@corp.local",
                            "enhanced_status": "2.7.0"}
    assert "C: AUTH XOAUTH2 ***" in report.transcript
    assert relay.behaviour.xoauth2_attempts == [("svc@corp.local", TOKEN)]
    [received] = relay.received
    assert received.login == "svc@corp.local" and received.tls
    assert_no_credentials(report)


def test_the_relay_username_is_the_sasl_user_when_set(
        mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
        smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer())
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    report = run(mailer, oauth_profile(relay, endpoint, username="mailbox@corp.local"))
    assert report.success, report.failure_summary()
    assert relay.behaviour.xoauth2_attempts == [("mailbox@corp.local", TOKEN)]


def test_implicit_tls(ca_bundle: Path, resolver: StaticResolver,
                      token_endpoint: Callable[..., TokenEndpoint],
                      smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("implicit", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    mailer = Mailer(MailerConfig(connect_timeout=2.0, test_timeout=6.0, ca_bundle=ca_bundle,
                                 implicit_tls_ports=frozenset({relay.port})), resolver=resolver)
    report = run(mailer, oauth_profile(relay, token_endpoint(issuer())))
    assert report.success, report.failure_summary()
    assert relay.received[0].tls


def test_a_cached_token_serves_the_next_test(
        mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
        smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer())
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    profile = oauth_profile(relay, endpoint)
    first, second = run(mailer, profile), run(mailer, profile)
    assert first.success and second.success
    assert len(endpoint.calls) == 1
    token_step = second.step(StepName.TOKEN)
    assert token_step is not None and token_step.details["cached"] is True
    assert "-- access token reused from the cache (expires in" in "\n".join(second.transcript)


# -- refusals ----------------------------------------------------------------------------

def test_a_wrong_client_secret_fails_the_token_step_with_the_providers_error(
        mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
        smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer(client_secret="the-right-secret"))
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    report = run(mailer, oauth_profile(relay, endpoint))
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.TOKEN
    assert failed.message == ("the token endpoint refused the request: invalid_client "
                              "(AADSTS7000215: Invalid client secret provided.) (HTTP 401) "
                              "(Microsoft 365 / Exchange Online: the client secret is wrong)")
    assert statuses(report)["auth"] == "skipped"
    assert relay.behaviour.xoauth2_attempts == [] and relay.received == []
    assert "failed at step 'token'" in report.failure_summary()
    assert_no_credentials(report)


def test_a_token_the_relay_rejects_fails_the_auth_step(
        mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
        smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer(tokens=["expired-token"]))
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    report = run(mailer, oauth_profile(relay, endpoint))
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.AUTH
    assert failed.reply_code == 535
    assert failed.message is not None
    assert failed.message.startswith("the server rejected the access token for "
                                     "'svc@corp.local'; its explanation: {")
    assert '"status": "401"' in failed.message
    assert failed.hint is not None and "SMTP.SendAsApp" in failed.hint
    # A freshly issued token is not asked for again: the grant would be the same.
    assert len(endpoint.calls) == 1
    assert relay.behaviour.xoauth2_attempts == [("svc@corp.local", "expired-token")]
    transcript = report.transcript
    at = transcript.index("C: AUTH XOAUTH2 ***")
    assert transcript[at + 1].startswith("S: 334 ")
    assert transcript[at + 2].startswith("-- the server's XOAUTH2 error: {")
    assert transcript[at + 3] == "C: "
    assert any(line.startswith("S: 535") for line in transcript[at:])
    assert_no_credentials(report, "expired-token")


def test_a_cached_token_the_relay_refuses_is_renewed_once(
        mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
        smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer(tokens=["token-a", "token-b"]))
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"token-a"})))
    profile = oauth_profile(relay, endpoint)
    assert run(mailer, profile).success
    relay.behaviour.xoauth2_tokens = frozenset({"token-b"})  # token-a revoked
    report = run(mailer, profile)
    assert report.success, report.failure_summary()
    assert len(endpoint.calls) == 2
    assert [t for _, t in relay.behaviour.xoauth2_attempts] == ["token-a", "token-a", "token-b"]
    auth = report.step(StepName.AUTH)
    assert auth is not None and auth.details["token_renewed"] is True
    token_step = report.step(StepName.TOKEN)
    assert token_step is not None and token_step.details["renewed"] is True
    assert ("-- the relay refused the cached access token; fetching a new one"
            in report.transcript)
    # The renewed token is the cached one now.
    assert run(mailer, profile).success and len(endpoint.calls) == 2


def test_renewal_happens_once_only(mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
                                   smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer(tokens=["token-a", "token-b", "token-c"]))
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"token-a"})))
    profile = oauth_profile(relay, endpoint)
    assert run(mailer, profile).success
    relay.behaviour.xoauth2_tokens = frozenset({"token-z"})
    report = run(mailer, profile)
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.AUTH
    assert len(endpoint.calls) == 2
    assert [t for _, t in relay.behaviour.xoauth2_attempts] == ["token-a", "token-a", "token-b"]


def test_a_failed_renewal_fails_the_token_step(
        mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
        smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer(tokens=["token-a"]))
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"token-a"})))
    profile = oauth_profile(relay, endpoint)
    assert run(mailer, profile).success
    relay.behaviour.xoauth2_tokens = frozenset()
    endpoint.issuer.client_secret = "rotated-at-the-provider"
    report = run(mailer, profile)
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.TOKEN
    assert failed.message is not None and "invalid_client" in failed.message
    auth = report.step(StepName.AUTH)
    assert auth is not None and auth.status is StepStatus.FAILED
    assert auth.message is not None and "no new one could be obtained" in auth.message


def test_no_token_over_plain_text(mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
                                  smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer())
    relay = smtp_server("plain", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    report = run(mailer, oauth_profile(relay, endpoint, use_ssl=False))
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.AUTH
    assert failed.message == ("refusing to send an OAuth access token over an unencrypted "
                              "connection")
    assert failed.hint is not None and "Set UseSSL" in failed.hint
    assert statuses(report)["token"] == "skipped"
    assert endpoint.calls == [] and relay.behaviour.xoauth2_attempts == []


def test_a_relay_without_xoauth2(mailer: Mailer, token_endpoint: Callable[..., TokenEndpoint],
                                 smtp_server: Callable[..., SmtpServer]) -> None:
    endpoint = token_endpoint(issuer())
    relay = smtp_server("starttls", Behaviour(users={"svc": "pw"}))
    report = run(mailer, oauth_profile(relay, endpoint))
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.AUTH
    assert failed.message == "the server offers AUTH LOGIN PLAIN, but not XOAUTH2"
    assert endpoint.calls == []


def test_the_token_and_auth_tls_contexts_are_separate(mailer: Mailer) -> None:
    """httpx sets ALPN on the context it is given; the relay's context must not get it."""
    from smtp_profile.domain.relay_options import RelayOptions

    assert mailer.tokens.tls_context is not mailer.trust.context_for(RelayOptions())
