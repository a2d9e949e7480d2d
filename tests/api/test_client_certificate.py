"""The relay client certificate, tried as a new user would: a relay that relays only for a
known client certificate refuses at rcpt_to (with a hint) without it and relays with it;
the route's ETag, audit, binding, Status warnings, and the key never leaving."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import pytest
import trustme

from tests.api.test_audit import audit
from tests.api.test_smtp_routes import error
from tests.support.client_certs import ClientIdentity, certificate_relay, client_auth_context
from tests.support.database import raw_contents
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, add_user, service_settings, start_service
from tests.support.smtp import LoopThread, SmtpServer

CERT = "/KeyfactorAPI/SMTP/ClientCertificate"
P12_PASSWORD = "Canary-P12Password-77c1e0"
KEY_PASSWORD = "Canary-KeyPassword-1b9a44"
RELAY_NAMES = ["mail.test", "localhost", "127.0.0.1"]


def profile(port: int, **overrides: Any) -> dict[str, Any]:
    return {"Host": "mail.test", "Port": port, "UseSSL": True, "RelayAuthenticationType": 0,
            "SenderAccount": "svc@corp.local", "SenderName": "KF", **overrides}


SEEN: list[str] = []
"""Every Diagnose answer of these tests, for the canary search."""


def diagnose(service: RunningService) -> dict[str, Any]:
    with service.client() as client:
        response = client.post("/KeyfactorAPI/SMTP/Diagnose",
                               json={"Mode": "verify", "TestRecipient": "pki@corp.local"})
    assert response.status_code == 200, response.text
    SEEN.append(response.text)
    return {step["Name"]: step for step in response.json()["Steps"]} | {
        "_success": response.json()["Success"]}


def key_lines(identity: ClientIdentity) -> list[str]:
    """The base64 lines of the private key: any one of them in output is a leak."""
    return [line for line in identity.key_pem().splitlines() if "-----" not in line]


@pytest.fixture
def relay_ca(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(*RELAY_NAMES)


def test_a_relay_that_relays_only_for_a_known_certificate(
        service: RunningService, loop_thread: LoopThread, relay_ca: trustme.LeafCert,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client_ca = trustme.CA()
    identity = ClientIdentity(client_ca)
    relay: SmtpServer = certificate_relay(
        loop_thread, client_auth_context(relay_ca, client_ca), {identity.sha256})
    outputs: list[str] = []
    try:
        with service.client() as client:
            client.put("/KeyfactorAPI/SMTP", json=profile(relay.port)).raise_for_status()
            empty = client.get(CERT)
            assert empty.status_code == 200 and empty.json()["Configured"] is False
            first_tag = empty.headers["etag"]

            # Without a certificate: refused at rcpt_to, and the hint says why.
            steps = diagnose(service)
            assert steps["_success"] is False
            rcpt = steps["rcpt_to"]
            assert rcpt["Status"] == "failed" and rcpt["ReplyCode"] == 554
            assert "asked for a client certificate" in rcpt["Hint"]
            seen = steps["starttls"]["Details"]["client_certificate"]
            assert seen == {"configured": False, "requested_by_relay": True}

            # A bad request is a 400 in the API's format, then a good one works.
            mismatch = client.put(CERT, json={"CertificatePem": identity.certificate_pem,
                                              "PrivateKeyPem": ClientIdentity().key_pem()})
            assert "does not belong" in error(mismatch, 400, "0xA0110001")
            encrypted = {"CertificatePem": identity.certificate_pem,
                         "PrivateKeyPem": identity.key_pem(KEY_PASSWORD),
                         "PrivateKeyPassword": KEY_PASSWORD}
            stored = client.put(CERT, json=encrypted, headers={"If-Match": first_tag})
            assert stored.status_code == 200, stored.text
            outputs += [mismatch.text, stored.text]
            body = stored.json()
            assert body["Configured"] and body["Usable"] and body["Sha256"] == identity.sha256
            assert body["BoundTo"]["Host"] == "mail.test" and body["BoundTo"]["Port"] == \
                relay.port
            assert "PrivateKeyPem" not in body and "PRIVATE KEY" not in stored.text

            # With it: relayed, and the report names the certificate presented.
            steps = diagnose(service)
            assert steps["_success"] is True, steps
            presented = steps["certificate"]["Details"]["client_certificate"]
            assert presented["presented"] is True and presented["requested_by_relay"] is True
            assert presented["sha256"] == identity.sha256
            assert presented["subject"] == "CN=mailer.corp.local"
            assert relay.handler.seen[-1] == identity.sha256  # type: ignore[attr-defined]

            # PKCS#12 with its password works the same; no password is kept.
            p12 = client.put(CERT, json={"Pkcs12": identity.pkcs12_base64(P12_PASSWORD),
                                         "Pkcs12Password": P12_PASSWORD})
            assert p12.status_code == 200, p12.text
            wrong = client.put(CERT, json={"Pkcs12": identity.pkcs12_base64(P12_PASSWORD),
                                           "Pkcs12Password": "wrong"})
            assert "Pkcs12 cannot be opened" in error(wrong, 400, "0xA0110001")
            outputs += [p12.text, wrong.text]

            # Moving the relay's Port makes it unusable until set again.
            client.put("/KeyfactorAPI/SMTP", json=profile(relay.port + 0, UseSSL=True,
                                                          Host="localhost")
                       ).raise_for_status()
            unbound = client.get(CERT).json()
            assert unbound["Usable"] is False
            assert "saved for mail.test" in unbound["UnusableReasons"][0]
            status = client.get("/KeyfactorAPI/SMTP/Status").json()
            assert [w["Code"] for w in status["Warnings"]] == ["client-certificate-unbound"]
            # The same relay under another name: the key is not presented to it.
            steps = diagnose(service)
            assert steps["rcpt_to"]["Status"] == "failed"
            withheld = steps["starttls"]["Details"]["client_certificate"]["withheld"]
            assert "was not presented: it was saved for mail.test" in withheld
            assert "saved for mail.test" in steps["rcpt_to"]["Hint"]
            assert relay.handler.seen[-1] is None  # type: ignore[attr-defined]
            client.put("/KeyfactorAPI/SMTP", json=profile(relay.port)).raise_for_status()
            assert client.get(CERT).json()["Usable"] is True
            status_answer = client.get("/KeyfactorAPI/SMTP/Status")
            assert status_answer.json()["Warnings"] == []
            outputs += [status_answer.text, client.get(CERT).text,
                        client.get("/KeyfactorAPI/SMTP/Audit").text]

            # Remove: a stale If-Match is a 412, the current one works.
            current = client.get(CERT).headers["etag"]
            stale = client.delete(CERT, headers={"If-Match": first_tag})
            error(stale, 412, "0xA0110014")
            removed = client.delete(CERT, headers={"If-Match": current})
            assert removed.status_code == 200 and removed.json()["Configured"] is False
    finally:
        relay.close()
    records = audit(service, action="ClientCertificate")
    # Newest first: removed, stale If-Match, wrong PKCS#12 password, PKCS#12, PEM, mismatch.
    assert [(r["Success"], r["ErrorCode"]) for r in records] == [
        (True, None), (False, "0xA0110014"), (False, "0xA0110001"), (True, None),
        (True, None), (False, "0xA0110001")]
    assert records[4]["Changes"][:2] == [
        {"Field": "ClientCertificateSha256", "Old": None, "New": identity.sha256,
         "Secret": False},
        {"Field": "PrivateKey", "Old": None, "New": None, "Secret": True}]
    evidence = "\n".join(outputs + SEEN) + caplog.text + str(records)
    evidence += raw_contents(service.settings).decode("latin-1")
    for needle in [*key_lines(identity), P12_PASSWORD, KEY_PASSWORD]:
        assert needle not in evidence, needle


def test_refused_never_asked_expiring_and_who_may_change_it(
        service: RunningService, loop_thread: LoopThread, relay_ca: trustme.LeafCert,
        server_context: ssl.SSLContext) -> None:
    """One running instance: each failure, then a success on it."""
    client_ca = trustme.CA()
    stranger = ClientIdentity(trustme.CA(), client_auth=False)  # issuer the relay distrusts
    known = ClientIdentity(client_ca, days=10)
    strict = certificate_relay(loop_thread,
                               client_auth_context(relay_ca, client_ca, ssl.CERT_REQUIRED),
                               {known.sha256})
    deaf = certificate_relay(loop_thread, server_context, {known.sha256})  # never asks
    open_relay = SmtpServer(loop_thread, mode="starttls", server_context=server_context)
    try:
        with service.client() as client:
            # A certificate the relay refuses: said so, with what is wrong with it.
            client.put("/KeyfactorAPI/SMTP", json=profile(strict.port)).raise_for_status()
            client.put(CERT, json=stranger.pem_body()).raise_for_status()
            steps = diagnose(service)
            failed = [s for name, s in steps.items()
                      if name != "_success" and s["Status"] == "failed"]
            assert len(failed) == 1 and failed[0]["Name"] in ("starttls", "ehlo", "certificate")
            assert "client certificate" in failed[0]["Hint"]
            assert "clientAuth" in failed[0]["Hint"]
            # Then the right certificate: relayed.
            client.put(CERT, json=known.pem_body()).raise_for_status()
            assert diagnose(service)["_success"] is True

            # It expires in 10 days: Status warns, with the day and where to act.
            warnings = client.get("/KeyfactorAPI/SMTP/Status").json()["Warnings"]
            assert [(w["Code"], w["Severity"]) for w in warnings] == [
                ("client-certificate-expiring", "warning")]
            assert warnings[0]["Link"] == CERT
            assert warnings[0]["Date"] == known.cert.not_valid_after_utc.date().isoformat()

            # A relay that never asks for one: the certificate is not presented, and the
            # refusal's hint says why.
            client.put("/KeyfactorAPI/SMTP", json=profile(deaf.port)).raise_for_status()
            client.put(CERT, json=known.pem_body()).raise_for_status()
            steps = diagnose(service)
            assert steps["rcpt_to"]["Status"] == "failed"
            assert "never asked for one" in steps["rcpt_to"]["Hint"]
            assert steps["starttls"]["Details"]["client_certificate"]["presented"] is False
            # One that relays for anybody: relayed, and the report says it was without it.
            client.put("/KeyfactorAPI/SMTP", json=profile(open_relay.port)).raise_for_status()
            client.put(CERT, json=known.pem_body()).raise_for_status()
            steps = diagnose(service)
            assert steps["_success"] is True
            note = steps["starttls"]["Details"]["client_certificate"]["note"]
            assert "did not ask for a client certificate" in note

            # Renewed: the warning goes.
            client.put(CERT, json=ClientIdentity().pem_body()).raise_for_status()
            assert client.get("/KeyfactorAPI/SMTP/Status").json()["Warnings"] == []
    finally:
        strict.close()
        deaf.close()
        open_relay.close()
    # Reading needs read, changing needs modify.
    add_user(service.settings, "reader", "Reader-Pa55word-1", "/system_settings/read/")
    with service.client("reader", "Reader-Pa55word-1") as client:
        assert client.get(CERT).status_code == 200
        error(client.put(CERT, json=ClientIdentity().pem_body()), 403, "0xA0110011")
        error(client.delete(CERT), 403, "0xA0110011")


def test_implicit_tls_and_auth_external(tmp_path: Any, ca_bundle: Any, resolver: Any,
                                        loop_thread: LoopThread,
                                        relay_ca: trustme.LeafCert) -> None:
    client_ca = trustme.CA()
    identity = ClientIdentity(client_ca)
    relay = certificate_relay(loop_thread, client_auth_context(relay_ca, client_ca),
                              {identity.sha256}, mode="implicit", external_only=True)
    running = start_service(service_settings(tmp_path / "data", ca_bundle,
                                             implicit_tls_ports=frozenset({relay.port})),
                            resolver)
    try:
        with running.client() as client:
            client.put("/KeyfactorAPI/SMTP", json=profile(relay.port)).raise_for_status()
            client.put(CERT, json=identity.pem_body()).raise_for_status()
            steps = diagnose(running)
            assert steps["rcpt_to"]["Status"] == "failed"  # no EXTERNAL asked for yet
            assert "received the client certificate" in steps["rcpt_to"]["Hint"]
            tls = steps["tls"]["Details"]["client_certificate"]
            assert tls["presented"] is True and tls["sha256"] == identity.sha256
            client.put(CERT, json={**identity.pem_body(), "SaslExternal": True}
                       ).raise_for_status()
            steps = diagnose(running)
            assert steps["_success"] is True, [
                (n, s.get("Message"), s.get("Hint")) for n, s in steps.items()
                if n != "_success" and s["Status"] == "failed"]
            assert steps["auth"]["Details"]["mechanism"] == "EXTERNAL"
            assert steps["auth"]["ReplyCode"] == 235
            assert relay.handler.external_commands == [  # type: ignore[attr-defined]
                ["EXTERNAL", "="]]
    finally:
        running.stop()
        relay.close()


def test_a_test_takes_the_certificate_from_memory_until_another_instance_changes_it(
        service: RunningService, loop_thread: LoopThread, relay_ca: trustme.LeafCert,
        resolver: StaticResolver) -> None:
    """The `client certificate` memory (usecases/memory.py): a Test after the first reads
    no certificate row while the snapshot's version stands; a certificate replaced on
    another instance on the same database is the one the next Test presents."""
    client_ca = trustme.CA()
    first, second = ClientIdentity(client_ca), ClientIdentity(client_ca, name="second.corp")
    relay: SmtpServer = certificate_relay(
        loop_thread, client_auth_context(relay_ca, client_ca), {first.sha256, second.sha256})
    other = start_service(service.settings, resolver)  # one database, two instances
    memory = service.runtime.memory.client_certificate
    try:
        with service.client() as client:
            client.put("/KeyfactorAPI/SMTP", json=profile(relay.port)).raise_for_status()
            client.put(CERT, json={"CertificatePem": first.certificate_pem,
                                   "PrivateKeyPem": first.key_pem()}).raise_for_status()
        assert diagnose(service)["_success"] is True
        hits = memory.stats.hits
        assert diagnose(service)["_success"] is True
        assert memory.stats.hits == hits + 1  # the memory answered
        assert relay.handler.seen[-1] == first.sha256  # type: ignore[attr-defined]

        with other.client() as elsewhere:
            elsewhere.put(CERT, json={"CertificatePem": second.certificate_pem,
                                      "PrivateKeyPem": second.key_pem()}).raise_for_status()
        assert diagnose(service)["_success"] is True
        assert relay.handler.seen[-1] == second.sha256  # type: ignore[attr-defined]
        with other.client() as elsewhere:
            elsewhere.delete(CERT).raise_for_status()
        refused = diagnose(service)
        assert refused["_success"] is False and refused["rcpt_to"]["Status"] == "failed"
        assert relay.handler.seen[-1] is None  # type: ignore[attr-defined]
    finally:
        other.stop()
