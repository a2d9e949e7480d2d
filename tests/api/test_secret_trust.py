"""A stored secret is bound to the certificate checks it was entered under.

The attack: a user with the modify permission who does not know the relay password
switches verification off (or pins the certificate of their own server) with
PUT /SMTP/Options and runs a Test of the stored profile; an impostor on the relay's
address would receive AUTH PLAIN. After such a change the stored secret is not sent
(400 SECRET_REENTRY_REQUIRED naming the changed option, before any connection) until it
is entered again, which binds it to the checks in force then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from smtp_profile.cli.terminal import profile_lines
from tests.api.test_smtp_routes import error
from tests.support.certs import self_signed, server_context
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, LoopThread, SmtpServer

PASSWORD = "Trust-Bound-Pa55-71c2"
CLIENT_SECRET = "Trust-Bound-Client-9a0e"
USER = "svc@corp.local"
REENTER = "0xA0110007"


@pytest.fixture
def impostor(loop_thread: LoopThread, tmp_path: Path) -> Iterator[tuple[SmtpServer, str]]:
    """A relay with a self-signed certificate (and its pin) that would accept the password."""
    context, der = self_signed(tmp_path, "mail.test")
    relay = SmtpServer(loop_thread, mode="starttls", server_context=context,
                       behaviour=Behaviour(users={USER: PASSWORD}))
    yield relay, hashlib.sha256(der).hexdigest()
    relay.close()


def basic(port: int, **overrides: Any) -> dict[str, Any]:
    return {"Host": "mail.test", "Port": port, "UseSSL": True, "RelayAuthenticationType": 2,
            "RelayUsername": USER, "RelayPassword": PASSWORD, "SenderAccount": USER,
            "SenderName": "KF", **overrides}


def options(service: RunningService, values: dict[str, Any]) -> None:
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP/Options", json=values)
    assert response.status_code == 200, response.text


def test_under_the_checks_it_was_saved_with_the_impostor_gets_nothing(
        service: RunningService, impostor: tuple[SmtpServer, str]) -> None:
    relay, _ = impostor
    with service.client() as client:
        assert client.put("/KeyfactorAPI/SMTP", json=basic(relay.port)).status_code == 200
        refused = client.post("/KeyfactorAPI/SMTP/Test",
                              json={**basic(relay.port, RelayPassword=None),
                                    "TestRecipient": "pki@corp.local"})
    assert "certificate" in error(refused, 400, "0xA0110008")
    assert relay.behaviour.auth_logins == []


@pytest.mark.parametrize("weakening", ["Insecure", "PinnedSha256"])
def test_weakened_trust_does_not_send_the_stored_password(
        service: RunningService, impostor: tuple[SmtpServer, str], weakening: str) -> None:
    relay, pin = impostor
    with service.client() as client:
        assert client.put("/KeyfactorAPI/SMTP", json=basic(relay.port)).status_code == 200
        options(service, {"Insecure": True} if weakening == "Insecure"
                else {"PinnedSha256": pin})
        for attempt in (
            client.post("/KeyfactorAPI/SMTP/Test", json={
                **basic(relay.port, RelayPassword=None), "TestRecipient": "pki@corp.local"}),
            client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}),
            client.post("/KeyfactorAPI/SMTP/Diagnose", json={}),
        ):
            message = error(attempt, 400, REENTER)
            assert f"relay options' {weakening} changed" in message
            assert "RelayPassword must be re-entered" in message
        status = client.get("/KeyfactorAPI/SMTP/Status").json()
        assert status["SecretTrustChanged"] == [weakening]
        # A PUT without the password keeps it, bound to the old checks.
        assert client.put("/KeyfactorAPI/SMTP", json=basic(
            relay.port, RelayPassword=None, SenderName="Other")).status_code == 200
        again = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"})
        assert weakening in error(again, 400, REENTER)
        assert relay.behaviour.auth_logins == []
        assert relay.received == []

        # Entering the password again binds it to the checks now in force.
        assert client.put("/KeyfactorAPI/SMTP", json=basic(relay.port)).status_code == 200
        report = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"})
        assert report.status_code == 200 and report.json()["Success"] is True, report.text
        assert relay.behaviour.auth_logins == [USER]
        assert client.get("/KeyfactorAPI/SMTP/Status").json()["SecretTrustChanged"] == []
        audit = client.get("/KeyfactorAPI/SMTP/Audit", params={"returnLimit": 100}).json()
    refusals = [r for r in audit if r.get("ErrorCode") == REENTER]
    assert len(refusals) == 4


def test_a_password_in_the_test_body_is_sent_under_the_current_checks(
        service: RunningService, impostor: tuple[SmtpServer, str]) -> None:
    """Whoever types the password is the one who decides to send it: no refusal."""
    relay, pin = impostor
    with service.client() as client:
        assert client.put("/KeyfactorAPI/SMTP", json=basic(relay.port)).status_code == 200
        options(service, {"PinnedSha256": pin})
        sent = client.post("/KeyfactorAPI/SMTP/Test",
                           json={**basic(relay.port), "TestRecipient": "pki@corp.local"})
    assert sent.status_code == 200, sent.text
    assert relay.behaviour.auth_logins == [USER]


def test_every_change_of_the_checks_counts_strengthening_too(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={USER: PASSWORD}))
    other_ca = trustme.CA()
    with service.client() as client:
        options(service, {"Insecure": True})
        assert client.put("/KeyfactorAPI/SMTP", json=basic(relay.port)).status_code == 200
        ok = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"})
        assert ok.json()["Success"] is True
        options(service, {"CaBundle": other_ca.cert_pem.bytes().decode()})
        message = error(client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}),
                        400, REENTER)
    assert "Insecure and CaBundle changed" in message
    assert relay.behaviour.auth_logins == [USER]


def test_the_oauth_client_secret_is_bound_too(
        service: RunningService, loop_thread: LoopThread,
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    idp = token_endpoint(Issuer(client_id="client-1", client_secret=CLIENT_SECRET,
                                tokens=["tok-1"]))
    other_ca = trustme.CA()
    relay = SmtpServer(loop_thread, mode="starttls",
                       server_context=server_context(other_ca.issue_cert("mail.test")),
                       behaviour=Behaviour(xoauth2_tokens=frozenset({"tok-1"})))
    oauth = {"Host": "mail.test", "Port": relay.port, "UseSSL": True,
             "RelayAuthenticationType": 3, "SenderAccount": USER, "SenderName": "KF",
             "ClientId": {"SecretValue": "client-1"},
             "ClientSecret": {"SecretValue": CLIENT_SECRET}, "TokenEndpoint": idp.url}
    try:
        with service.client(version=2) as client:
            assert client.put("/KeyfactorAPI/SMTP", json=oauth).status_code == 200
            options(service, {"Insecure": True})
            message = error(client.post("/KeyfactorAPI/SMTP/Diagnose", json={}), 400, REENTER)
            assert "ClientSecret must be re-entered" in message and "Insecure" in message
            assert idp.calls == [] and relay.behaviour.xoauth2_attempts == []
            report = client.post("/KeyfactorAPI/SMTP/Diagnose", json={
                **oauth, "TestRecipient": "pki@corp.local"})
            assert report.json()["Success"] is True, report.text
    finally:
        relay.close()
    assert len(idp.calls) == 1 and relay.behaviour.xoauth2_attempts == [(USER, "tok-1")]


def test_show_says_the_stored_secret_waits_to_be_entered_again() -> None:
    profile = {"Host": "mail.test", "Port": 587, "UseSSL": True, "SenderName": "KF",
               "SenderAccount": USER, "RelayAuthenticationType": 2,
               "RelayUsername": {"SecretValue": USER}}
    lines = profile_lines(profile, {"PasswordStored": True, "Trust": "insecure",
                                    "SecretTrustChanged": ["Insecure"]})
    assert any("not sent until entered again (Insecure changed" in line for line in lines)
    assert not any("entered again" in line for line in profile_lines(
        profile, {"PasswordStored": True, "SecretTrustChanged": []}))
