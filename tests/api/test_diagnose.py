"""POST /SMTP/Diagnose: the step-by-step report, and every hint triggered by a real server
that misbehaves in exactly that way."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.api.test_smtp_routes import error
from tests.support.certs import expired_context, self_signed, server_context
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import (
    Behaviour,
    LoopThread,
    ScriptedServer,
    SmtpServer,
    closed_port,
    silent,
)

CANARY = "Diag-Canary-Pa55-0c7d"
ALL_STEPS = ["resolve", "connect", "banner", "ehlo", "starttls", "certificate", "auth",
             "mail_from", "rcpt_to", "data", "quit"]


def body(port: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Host": "mail.test", "Port": port, "RelayAuthenticationType": 0,
        "SenderAccount": "svc@corp.local", "SenderName": "Keyfactor Command",
        "UseSSL": False, "TestRecipient": "pki@corp.local",
    }
    values.update(overrides)
    return values


def basic(port: int, password: str = CANARY, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"UseSSL": True, "RelayAuthenticationType": 2,
                              "RelayUsername": "svc@corp.local", "RelayPassword": password}
    return body(port, **{**values, **overrides})


def diagnose(service: RunningService, payload: dict[str, Any] | None,
             version: int = 1) -> dict[str, Any]:
    with service.client(version=version) as client:
        response = client.post("/KeyfactorAPI/SMTP/Diagnose", json=payload)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert response.headers["x-test-id"] == report["TestId"]
    return report


def steps(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["Name"]: step for step in report["Steps"]}


def failed(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The failed step, after checking it is `name` and everything after it is skipped."""
    assert report["Success"] is False
    names = [s["Name"] for s in report["Steps"]]
    statuses = [s["Status"] for s in report["Steps"]]
    index = names.index(name)
    assert statuses[index] == "failed", report["Steps"]
    assert all(s == "ok" for s in statuses[:index]), statuses
    assert all(s == "skipped" for s in statuses[index + 1:]), statuses
    step: dict[str, Any] = report["Steps"][index]
    assert step["Message"] and step["Hint"], step
    return step


# -- the report ------------------------------------------------------------------------------

def test_a_full_report_of_a_successful_starttls_auth_test(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}))
    report = diagnose(service, basic(relay.port))
    assert report["Success"] is True and report["Mode"] == "send"
    assert [s["Name"] for s in report["Steps"]] == ALL_STEPS
    assert {s["Status"] for s in report["Steps"]} == {"ok"}
    for step in report["Steps"]:
        assert set(step) == {"Name", "Status", "DurationMs", "ReplyCode", "ReplyText",
                             "Message", "Hint", "Details"}
        assert isinstance(step["DurationMs"], float | int) and step["DurationMs"] >= 0
    by_name = steps(report)
    assert by_name["resolve"]["Details"]["addresses"] == ["127.0.0.1"]
    assert by_name["connect"]["Details"]["address"] == "127.0.0.1"
    assert by_name["banner"]["ReplyCode"] == 220
    ehlo = by_name["ehlo"]["Details"]
    assert "STARTTLS" in ehlo["extensions"] and "SMTPUTF8" in ehlo["extensions"]
    tls = by_name["starttls"]["Details"]
    assert tls["protocol"].startswith("TLSv1.") and tls["cipher"]
    assert "PLAIN" in tls["after_tls"]["auth_mechanisms"]
    cert = by_name["certificate"]["Details"]
    assert cert["trusted"] is True and cert["host_matches"] is True
    assert "mail.test" in cert["subject_alt_names"] and cert["days_left"] > 0
    assert cert["issuer"] and cert["not_after"] and len(cert["sha256"]) == 64
    assert by_name["auth"]["Details"]["mechanism"] == "PLAIN"
    assert "queued as TESTQ123" in by_name["data"]["ReplyText"]
    assert by_name["data"]["Details"]["message_id"].startswith(f"<{report['TestId']}@")
    assert relay.received[0].message["Message-ID"] == by_name["data"]["Details"]["message_id"]
    assert "C: AUTH PLAIN ***" in report["Transcript"]
    assert any(line.startswith("S: 250") for line in report["Transcript"])
    assert CANARY not in json.dumps(report)


def test_verify_mode_delivers_nothing(service: RunningService,
                                      smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    report = diagnose(service, {**body(relay.port), "Mode": "verify"})
    assert report["Success"] is True and report["Mode"] == "verify"
    assert "data" not in steps(report)
    assert "C: RSET" in report["Transcript"] and "C: QUIT" in report["Transcript"]
    assert relay.behaviour.data_commands == 0 and relay.received == []


def test_an_empty_body_diagnoses_the_stored_profile(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with service.client() as client:
        missing = client.post("/KeyfactorAPI/SMTP/Diagnose")
        assert "stored profile has no Host" in error(missing, 400, "0xA0110001")
        stored = {k: v for k, v in body(relay.port).items() if k != "TestRecipient"}
        client.put("/KeyfactorAPI/SMTP", json=stored).raise_for_status()
        empty = client.post("/KeyfactorAPI/SMTP/Diagnose")
    assert empty.status_code == 200 and empty.json()["Success"] is True
    assert relay.received[0].rcpt_tos == ["svc@corp.local"]
    report = diagnose(service, {"mode": "VERIFY", "TestRecipient": "other@corp.local"})
    assert report["Mode"] == "verify" and report["Success"] is True
    assert len(relay.received) == 1


def test_failures_still_answer_200_with_a_report(service: RunningService) -> None:
    report = diagnose(service, body(closed_port()), version=2)
    step = failed(report, "connect")
    assert "connection refused" in step["Message"]
    assert "Nothing listens on port" in step["Hint"]


def test_bad_diagnose_requests_are_400s(service: RunningService) -> None:
    with service.client() as client:
        for payload, wording in (({"Mode": "deliver"}, "Mode must be send or verify"),
                                 ({"Mechanism": "CRAM-MD5"}, "Mechanism must be"),
                                 ({**body(25), "Port": "25.5"}, "Port: must be a whole number")):
            response = client.post("/KeyfactorAPI/SMTP/Diagnose", json=payload)
            assert wording in error(response, 400, "0xA0110001")


def test_a_test_body_is_diagnosed_as_test_reads_it(service: RunningService,
                                                   smtp_server: Callable[..., SmtpServer]) -> None:
    """Diagnose explains a failed Test, so it reads a Test body as Test does (issue 15):
    strings for numbers and booleans, unknown properties ignored."""
    relay = smtp_server()
    loose = {**body(relay.port), "Port": str(relay.port), "UseSSL": "False", "Unknown": 1}
    with service.client() as client:
        refused = client.post("/KeyfactorAPI/SMTP/Diagnose", json={**loose, "UseSSL": "no"})
        assert "UseSSL: must be true or false" in error(refused, 400, "0xA0110001")
    report = diagnose(service, {**loose, "Mode": "verify"})
    assert report["Success"] is True and report["Mode"] == "verify"


def test_steps_stream_as_ndjson(service: RunningService,
                                smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with service.client() as client, client.stream(
            "POST", "/KeyfactorAPI/SMTP/Diagnose", json=body(relay.port),
            headers={"accept": "application/x-ndjson"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    streamed = [line["Step"]["Name"] for line in lines[:-1]]
    assert streamed == ["resolve", "connect", "banner", "ehlo", "mail_from", "rcpt_to",
                        "data", "quit"]
    assert lines[-1]["Report"]["Success"] is True


# -- hints, each from a server that really misbehaves that way --------------------------------

def test_implicit_tls_against_a_plain_smtp_port(tmp_path: Path, ca_bundle: Path, resolver: Any,
                                                smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls")
    settings = service_settings(tmp_path / "d", ca_bundle,
                                implicit_tls_ports=frozenset({relay.port}))
    running = start_service(settings, resolver)
    try:
        step = failed(diagnose(running, body(relay.port, UseSSL=True)), "tls")
    finally:
        running.stop()
    assert "plain-text SMTP greeting" in step["Message"]
    assert "STARTTLS" in step["Hint"]
    assert step["Details"]["plain_smtp_greeting"] is True


def test_plain_smtp_against_an_implicit_tls_port(service: RunningService,
                                                 smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("implicit")
    step = failed(diagnose(service, body(relay.port)), "banner")
    assert "no greeting" in step["Message"]
    assert "expects TLS from the first byte" in step["Hint"]
    assert step["Details"]["speaks_tls"] is True


def test_a_silent_port_that_is_not_tls_either(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    relay = scripted_server(silent)
    step = failed(diagnose(service, body(relay.port)), "banner")
    assert step["Details"]["speaks_tls"] is False
    assert "firewall" in step["Hint"]


def test_starttls_not_offered_while_usessl_is_set(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("plain")
    step = failed(diagnose(service, body(relay.port, UseSSL=True)), "starttls")
    assert "does not offer STARTTLS" in step["Message"]


def test_auth_offered_only_after_starttls(service: RunningService,
                                          smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}),
                        auth_require_tls=True)
    step = failed(diagnose(service, basic(relay.port, UseSSL=False)), "auth")
    assert "does not offer AUTH" in step["Message"]
    assert "Set UseSSL" in step["Hint"]


def test_credentials_rejected(service: RunningService,
                              smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": "the-right-one"}))
    report = diagnose(service, basic(relay.port))
    step = failed(report, "auth")
    assert step["ReplyCode"] == 535 and "rejected the credentials" in step["Message"]
    assert "RelayPassword" in step["Hint"]
    assert CANARY not in json.dumps(report)


def test_sender_rejected_and_not_the_authenticated_user(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(
        users={"svc@corp.local": CANARY},
        reject_mail_from="553 5.7.1 Sender address rejected: not owned by user"))
    step = failed(diagnose(service, basic(relay.port, SenderAccount="ceo@corp.local")),
                  "mail_from")
    assert step["ReplyCode"] == 553
    assert "'svc@corp.local'" in step["Hint"] and "authenticated mailbox" in step["Hint"]


def test_relay_denied_for_the_recipient(service: RunningService,
                                        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(reject_rcpt="554 5.7.1 Relay access denied"))
    step = failed(diagnose(service, body(relay.port)), "rcpt_to")
    assert step["Message"] == "the server refused to relay to the recipient"
    assert "authenticate" in step["Hint"]


def test_message_too_large(service: RunningService,
                           smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(data_size_limit=200)
    step = failed(diagnose(service, body(relay.port)), "mail_from")
    assert step["ReplyCode"] == 552 and "size" in step["Hint"]
    assert steps(diagnose(service, body(relay.port)))["ehlo"]["Details"]["size_limit"] == 200


def test_host_that_does_not_resolve(service: RunningService) -> None:
    step = failed(diagnose(service, body(25, Host="relay.nowhere.test")), "resolve")
    assert "does not resolve" in step["Message"] and "spelling" in step["Hint"]


def test_not_an_smtp_server_is_said_without_echoing_it(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    async def web_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nServer: secret-internal-thing\r\n\r\n")
        await writer.drain()
        await reader.read()

    relay = scripted_server(web_server)
    report = diagnose(service, body(relay.port))
    step = failed(report, "banner")
    assert "not an SMTP server" in step["Message"]
    assert "secret-internal-thing" not in json.dumps(report)
    assert "HTTP/1.1" not in json.dumps(report)


# -- certificates -------------------------------------------------------------------------

def tls_relay(loop_thread: LoopThread, context: Any,
              users: dict[str, str] | None = None) -> SmtpServer:
    return SmtpServer(loop_thread, mode="starttls", server_context=context,
                      behaviour=Behaviour(users=users or {}))


def test_expired_certificate(service: RunningService, loop_thread: LoopThread,
                             ca: trustme.CA) -> None:
    relay = tls_relay(loop_thread, expired_context(ca, "mail.test"))
    try:
        step = failed(diagnose(service, body(relay.port, UseSSL=True)), "certificate")
    finally:
        relay.close()
    assert "expired" in step["Message"] and "renew" in step["Hint"]
    assert step["Details"]["expired"] is True and step["Details"]["trusted"] is False
    assert step["Details"]["days_left"] < 0


def test_self_signed_certificate(service: RunningService, loop_thread: LoopThread,
                                 tmp_path: Path) -> None:
    context, _ = self_signed(tmp_path, "mail.test")
    relay = tls_relay(loop_thread, context)
    try:
        step = failed(diagnose(service, body(relay.port, UseSSL=True)), "certificate")
    finally:
        relay.close()
    assert "self-signed" in step["Message"] and "CA bundle" in step["Hint"]
    assert step["Details"]["self_signed"] is True


def test_certificate_for_another_name(service: RunningService, loop_thread: LoopThread,
                                      ca: trustme.CA) -> None:
    relay = tls_relay(loop_thread, server_context(ca.issue_cert("other.example.test")))
    try:
        step = failed(diagnose(service, body(relay.port, UseSSL=True)), "certificate")
    finally:
        relay.close()
    assert "not valid for 'mail.test'" in step["Message"]
    assert "other.example.test" in step["Hint"]
    assert step["Details"]["host_matches"] is False


def test_certificate_from_an_unknown_ca(service: RunningService,
                                        loop_thread: LoopThread) -> None:
    relay = tls_relay(loop_thread, server_context(trustme.CA().issue_cert("mail.test")))
    try:
        step = failed(diagnose(service, body(relay.port, UseSSL=True)), "certificate")
    finally:
        relay.close()
    assert "CA this service does not trust" in step["Message"]
    assert "CA bundle" in step["Hint"]


# -- relay options: trust and mechanism ------------------------------------------------------

def put_options(service: RunningService, options: dict[str, Any]) -> dict[str, Any]:
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP/Options", json=options)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_pinned_self_signed_relay(service: RunningService, loop_thread: LoopThread,
                                    tmp_path: Path) -> None:
    context, der = self_signed(tmp_path, "mail.test")
    relay = tls_relay(loop_thread, context, users={"svc@corp.local": CANARY})
    try:
        pin = hashlib.sha256(der).hexdigest()
        colons = ":".join(pin[i:i + 2] for i in range(0, 64, 2)).upper()
        assert put_options(service, {"PinnedSha256": colons})["Trust"] == "pinned"
        report = diagnose(service, basic(relay.port))
        assert report["Success"] is True
        assert steps(report)["certificate"]["Details"]["trust"] == "pinned"
        put_options(service, {"PinnedSha256": "ab" * 32})
        step = failed(diagnose(service, basic(relay.port)), "certificate")
    finally:
        relay.close()
    assert "pinned" in step["Message"]
    assert len(relay.received) == 1


def test_insecure_is_explicit_and_shown(service: RunningService, loop_thread: LoopThread,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    relay = tls_relay(loop_thread, server_context(trustme.CA().issue_cert("mail.test")))
    try:
        assert put_options(service, {"Insecure": True})["Trust"] == "insecure"
        report = diagnose(service, body(relay.port, UseSSL=True))
    finally:
        relay.close()
    assert report["Success"] is True
    certificate = steps(report)["certificate"]["Details"]
    assert certificate["trust"] == "insecure" and certificate["trusted"] is False
    assert "insecure" in certificate["warning"]
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP/Status").json()["Trust"] == "insecure"
    assert any("trust=insecure" in r.getMessage() for r in caplog.records)


def test_a_relay_ca_bundle(service: RunningService, loop_thread: LoopThread) -> None:
    other_ca = trustme.CA()
    relay = tls_relay(loop_thread, server_context(other_ca.issue_cert("mail.test")))
    try:
        put_options(service, {"CaBundle": other_ca.cert_pem.bytes().decode()})
        assert diagnose(service, body(relay.port, UseSSL=True))["Success"] is True
    finally:
        relay.close()


def test_forcing_a_mechanism(service: RunningService,
                             smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}))
    report = diagnose(service, {**basic(relay.port), "Mechanism": "login"})
    assert steps(report)["auth"]["Details"]["mechanism"] == "LOGIN"
    put_options(service, {"Mechanism": "LOGIN"})
    assert steps(diagnose(service, basic(relay.port)))["auth"]["Details"]["mechanism"] == "LOGIN"
    only_login = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}),
                             auth_exclude_mechanism=["LOGIN"])
    step = failed(diagnose(service, basic(only_login.port)), "auth")
    assert "AUTH LOGIN was chosen" in step["Message"]


def test_options_are_validated(service: RunningService) -> None:
    with service.client() as client:
        for options, wording in (({"PinnedSha256": "xyz"}, "PinnedSha256"),
                                 ({"CaBundle": "not a certificate"}, "CaBundle"),
                                 ({"Mechanism": "GSSAPI"}, "Mechanism"),
                                 ({"Insecure": "yes"}, "Insecure")):
            response = client.put("/KeyfactorAPI/SMTP/Options", json=options)
            assert wording in error(response, 400, "0xA0110001")
        assert client.get("/KeyfactorAPI/SMTP/Options").json() == {
            "CaBundle": None, "PinnedSha256": None, "Insecure": False, "Mechanism": "auto",
            "Trust": "system"}


# -- status: the last test of the stored profile -----------------------------------------

def test_status_remembers_the_last_test_of_the_stored_profile(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}))
    profile = {k: v for k, v in basic(relay.port).items() if k != "TestRecipient"}
    with service.client() as client:
        status = client.get("/KeyfactorAPI/SMTP/Status").json()
        assert status["LastTest"] is None and status["PasswordStored"] is False
        client.put("/KeyfactorAPI/SMTP", json=profile).raise_for_status()
        diagnose(service, {**body(relay.port, Host="localhost"), "Mode": "verify"})
        assert client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"] is None
        report = diagnose(service, {"Mode": "verify"})
        status = client.get("/KeyfactorAPI/SMTP/Status").json()
        last = status["LastTest"]
        assert status["PasswordStored"] is True and status["Trust"] == "system"
        assert last["TestId"] == report["TestId"] and last["Success"] is True
        assert last["Mode"] == "verify" and last["TestedBy"] == "admin"
        assert last["Current"] is True and last["CertificateNotAfter"]
        failing = {k: v for k, v in profile.items() if k != "RelayPassword"}
        client.put("/KeyfactorAPI/SMTP", json={**failing, "SenderName": "Renamed"})
        assert client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"]["Current"] is False
        relay.behaviour.users.clear()
        test = client.post("/KeyfactorAPI/SMTP/Test",
                           json={**failing, "SenderName": "Renamed",
                                 "TestRecipient": "x@corp.local"})
        assert test.status_code == 400
        last = client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"]
    assert last["Success"] is False and last["FailedStep"] == "auth"
    assert "rejected the credentials" in last["Message"] and last["Current"] is True
    assert CANARY not in json.dumps(last)
