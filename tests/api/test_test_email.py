"""POST /SMTP/Test against real SMTP servers: plain, STARTTLS, implicit TLS, AUTH, failures."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

import trustme

from tests.api.test_smtp_routes import error
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import Behaviour, ScriptedServer, SmtpServer, closed_port, silent

CANARY = "Canary-Relay-Pa55-41b2"
RECIPIENT = "pki-admin@corp.local"


def relay_body(port: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Host": "127.0.0.1", "Port": port, "RelayAuthenticationType": 0,
        "SenderAccount": "noreply@corp.local", "SenderName": "Keyfactor Command",
        "UseSSL": False, "TestRecipient": RECIPIENT,
    }
    body.update(overrides)
    return body


def test_v1_test_sends_a_well_formed_message(service: RunningService,
                                             smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with service.client() as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(relay.port))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "Host": "127.0.0.1", "Id": 1, "Port": relay.port, "RelayAuthenticationType": 0,
        "RelayUsername": None, "SenderAccount": "noreply@corp.local",
        "SenderName": "Keyfactor Command", "TestRecipient": RECIPIENT, "UseSSL": False,
    }
    assert list(response.json())[-2:] == ["TestRecipient", "UseSSL"]
    test_id = response.headers["x-test-id"]
    [received] = relay.received
    assert received.mail_from == "noreply@corp.local"
    assert received.rcpt_tos == [RECIPIENT]
    message = received.message
    assert parseaddr(message["From"]) == ("Keyfactor Command", "noreply@corp.local")
    assert message["To"] == RECIPIENT
    assert message["Date"]
    assert message["Message-ID"] == f"<{test_id}@corp.local>"
    assert test_id in message["Subject"]
    assert test_id in message.get_content()
    assert not received.tls


def test_test_uses_the_body_not_the_stored_profile(service: RunningService,
                                                   smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            "Host": "127.0.0.1", "Port": closed_port(), "SenderAccount": "stored@corp.local",
            "SenderName": "Stored"}).raise_for_status()
        response = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(relay.port))
    assert response.status_code == 200, response.text
    assert relay.received[0].mail_from == "noreply@corp.local"


def test_v2_test_success_is_an_empty_200(service: RunningService,
                                         smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(relay.port))
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers
    assert len(relay.received) == 1


def test_starttls_with_auth_plain(service: RunningService,
                                  smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}))
    body = relay_body(relay.port, Host="mail.test", UseSSL=True, RelayAuthenticationType=2,
                     RelayUsername={"SecretValue": "svc@corp.local"},
                     RelayPassword={"SecretValue": CANARY})
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=body)
    assert response.status_code == 200, response.text
    [received] = relay.received
    assert received.tls and received.login == "svc@corp.local"
    assert CANARY not in response.text


def test_auth_login_when_plain_is_not_offered(service: RunningService,
                                              smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc": CANARY}),
                        auth_exclude_mechanism=["PLAIN"])
    body = relay_body(relay.port, Host="mail.test", UseSSL=True, RelayAuthenticationType=2,
                     RelayUsername="svc", RelayPassword=CANARY)
    with service.client() as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=body)
    assert response.status_code == 200, response.text
    assert relay.received[0].login == "svc"


def test_implicit_tls_on_an_implicit_tls_port(tmp_path: Any, ca_bundle: Any, resolver: Any,
                                              smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("implicit")
    settings = service_settings(tmp_path / "d", ca_bundle,
                                implicit_tls_ports=frozenset({465, relay.port}))
    running = start_service(settings, resolver)
    try:
        with running.client() as client:
            response = client.post("/KeyfactorAPI/SMTP/Test",
                                   json=relay_body(relay.port, Host="mail.test", UseSSL=True))
        assert response.status_code == 200, response.text
        assert relay.received[0].tls
    finally:
        running.stop()


def test_stored_password_is_used_for_the_saved_destination_only(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc": CANARY}))
    other = smtp_server("starttls", Behaviour(users={"svc": CANARY}))
    profile = {"Host": "mail.test", "Port": relay.port, "UseSSL": True,
               "RelayAuthenticationType": 2, "RelayUsername": "svc", "RelayPassword": CANARY,
               "SenderAccount": "svc@corp.local", "SenderName": "KF"}
    without_password = {k: v for k, v in profile.items() if k != "RelayPassword"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=profile).raise_for_status()
        saved = client.post("/KeyfactorAPI/SMTP/Test",
                            json={**without_password, "TestRecipient": RECIPIENT})
        assert saved.status_code == 200, saved.text
        redirected = client.post("/KeyfactorAPI/SMTP/Test", json={
            **without_password, "Port": other.port, "TestRecipient": RECIPIENT})
    message = error(redirected, 400, "0xA0110007")
    assert "Port" in message
    assert other.received == [] and len(relay.received) == 1


# -- failures: each names its step -------------------------------------------------------

def failure(service: RunningService, body: dict[str, Any], version: int = 1) -> str:
    with service.client(version=version) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=body)
    message = error(response, 400, "0xA0110008")
    assert response.headers["x-test-id"] in message
    return message


def test_closed_port(service: RunningService) -> None:
    message = failure(service, relay_body(closed_port()))
    assert "failed at step 'connect'" in message and "connection refused" in message


def test_unresolvable_host(service: RunningService) -> None:
    message = failure(service, relay_body(25, Host="no-such-relay.test"))
    assert "failed at step 'resolve'" in message and "does not resolve" in message


def test_silent_server_fails_within_the_bound(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    relay = scripted_server(silent)
    started = time.monotonic()
    message = failure(service, relay_body(relay.port))
    elapsed = time.monotonic() - started
    assert "failed at step 'banner'" in message and "no greeting" in message
    # The bound is a correctness property (connect timeout 2 s in these tests), not speed.
    assert elapsed < service.settings.test_timeout


def test_untrusted_certificate(service: RunningService, loop_thread: Any,
                               smtp_server: Callable[..., SmtpServer]) -> None:
    rogue = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("mail.test").configure_cert(rogue)
    relay = SmtpServer(loop_thread, mode="starttls", server_context=rogue)
    try:
        message = failure(service, relay_body(relay.port, Host="mail.test", UseSSL=True))
    finally:
        relay.close()
    assert "failed at step 'certificate'" in message
    assert "CA this service does not trust" in message
    assert relay.received == []


def test_wrong_password(service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc": "right-password"}))
    message = failure(service, relay_body(
        relay.port, Host="mail.test", UseSSL=True, RelayAuthenticationType=2,
        RelayUsername="svc", RelayPassword=CANARY))
    assert "failed at step 'AUTH'" in message and "535" in message
    assert "Hint: Check RelayUsername and RelayPassword" in message
    assert CANARY not in message


def test_rejected_recipient(service: RunningService,
                            smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(reject_rcpt="550 5.7.1 Relaying denied"))
    message = failure(service, relay_body(relay.port))
    assert "failed at step 'RCPT TO'" in message
    assert "550 5.7.1 Relaying denied" in message
    assert "relay" in message.lower()


def test_starttls_not_offered(service: RunningService,
                              smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("plain")
    message = failure(service, relay_body(relay.port, UseSSL=True))
    assert "failed at step 'STARTTLS'" in message and "does not offer STARTTLS" in message
    assert relay.received == []


def test_validation_errors_come_before_any_connection(service: RunningService) -> None:
    with service.client() as client:
        missing = client.post("/KeyfactorAPI/SMTP/Test",
                              json={k: v for k, v in relay_body(25).items()
                                    if k != "TestRecipient"})
        bad = client.post("/KeyfactorAPI/SMTP/Test",
                          json=relay_body(25, TestRecipient="x@y\r\nBcc: z@w"))
    assert "TestRecipient is required" in error(missing, 400, "0xA0110001")
    assert "TestRecipient" in error(bad, 400, "0xA0110001")


def test_other_requests_are_served_while_a_test_hangs(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    relay = scripted_server(silent)
    finished: list[str] = []

    def hanging_test() -> None:
        failure(service, relay_body(relay.port))
        finished.append("test")

    thread = threading.Thread(target=hanging_test)
    thread.start()
    while relay.connections == 0:
        time.sleep(0.01)
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP").status_code == 200
    finished.append("get")
    thread.join()
    assert finished == ["get", "test"]


def test_a_relay_that_stalls_mid_conversation_ends_within_the_bound(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    async def stall_after_ehlo(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.test ESMTP\r\n")
        await writer.drain()
        await reader.readline()
        writer.write(b"250 mx.test\r\n")
        await writer.drain()
        await reader.read()

    relay = scripted_server(stall_after_ehlo)
    message = failure(service, relay_body(relay.port))
    assert "failed at step 'MAIL FROM'" in message
    assert "time limit" in message
