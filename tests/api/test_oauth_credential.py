"""Certificate credentials for type 3 through the real service: /SMTP/OAuth/Credential,
PUT /SMTP without ClientSecret, a Test whose token is bought with a signed assertion from
a loopback token endpoint that verifies it, XOAUTH2 to an aiosmtpd relay, the binding,
ETag, audit, permissions, and no leak of the key or the PKCS#12 password."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.test_smtp_routes import error
from tests.support.assertion_endpoint import (
    AppRegistration,
    AssertionTokenEndpoint,
    ClientCertificate,
    make_certificate,
)
from tests.support.database import raw_contents
from tests.support.service import RunningService, add_user
from tests.support.smtp import Behaviour, SmtpServer
from tests.test_canary_sweep import Evidence, encodings

ROUTE = "/KeyfactorAPI/SMTP/OAuth/Credential"
TOKEN = "Cert-Access-Token-Canary-4c1e"
SCOPE = "https://outlook.office365.com/.default"
P12_PASSWORD = "Canary-Pkcs12-Password-77d0"
RECIPIENT = "pki-admin@corp.local"


@pytest.fixture(scope="module")
def certificate() -> ClientCertificate:
    return make_certificate()


@pytest.fixture
def endpoint() -> Iterator[AssertionTokenEndpoint]:
    target = AssertionTokenEndpoint(AppRegistration(client_id="client-1", scope=SCOPE,
                                                    tokens=[TOKEN]))
    yield target
    target.close()


def binding(relay: SmtpServer, endpoint: AssertionTokenEndpoint) -> dict[str, Any]:
    return {"TokenEndpoint": endpoint.url, "ClientId": "client-1", "Host": "mail.test",
            "Port": relay.port, "UseSSL": True}


def pem_body(cert: ClientCertificate, **extra: Any) -> dict[str, Any]:
    return {"Certificate": cert.cert_pem, "PrivateKey": cert.key_pem, **extra}


def profile(relay: SmtpServer, endpoint: AssertionTokenEndpoint, **extra: Any) -> dict[str, Any]:
    return {"Host": "mail.test", "Port": relay.port, "UseSSL": True,
            "RelayAuthenticationType": 3, "SenderAccount": "svc@corp.local",
            "SenderName": "Keyfactor Command", "ClientId": {"SecretValue": "client-1"},
            "TokenEndpoint": endpoint.url, "Scope": SCOPE, **extra}


def test_a_certificate_signs_for_the_token_instead_of_a_client_secret(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        endpoint: AssertionTokenEndpoint, certificate: ClientCertificate) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    test = {**profile(relay, endpoint), "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        saved = client.put(ROUTE, json=pem_body(certificate, **binding(relay, endpoint)))
        assert saved.status_code == 200, saved.text
        body = saved.json()
        assert saved.headers["etag"] == '"oauth-credential-2"'
        info = body["CertificateInfo"]
        assert info["Subject"] == "CN=smtp-profile-oauth" and info["Algorithm"] == "PS256"
        assert len(info["Thumbprint"]) == 40 and body["InUse"] is False
        assert "PrivateKey" not in body and "PRIVATE KEY" not in saved.text
        # Keyfactor's PUT /SMTP, unchanged, now needs no ClientSecret.
        put = client.put("/KeyfactorAPI/SMTP", json=profile(relay, endpoint))
        assert put.status_code == 200, put.text
        assert put.json()["ClientSecret"] is None
        assert client.get(ROUTE).json()["InUse"] is True
        # The certificate is not uploaded to the app registration yet: the token step
        # fails with the provider's code and a hint...
        refused = client.post("/KeyfactorAPI/SMTP/Test", json=test)
        message = error(refused, 400, "0xA0110008")
        assert "failed at step 'token'" in message and "AADSTS700027" in message
        assert "Upload certificate" in message
        assert relay.behaviour.xoauth2_attempts == []
        # ...then, uploaded, the same running instance sends.
        endpoint.issuer.upload(certificate.cert_pem)
        sent = client.post("/KeyfactorAPI/SMTP/Test", json=test)
        assert sent.status_code == 200, sent.text
        report = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}).json()
    assert relay.behaviour.xoauth2_attempts == [("svc@corp.local", TOKEN)] * 2
    assert len(relay.received) == 1  # the Diagnose only verified
    [token_step] = [s for s in report["Steps"] if s["Name"] == "token"]
    details = token_step["Details"]
    assert details["x5t#S256"] == endpoint.issuer.accepted_assertions[0]["header"]["x5t#S256"]
    assert details["thumbprint"] == info["Thumbprint"] and details["cached"] is True
    assert all(c.field("client_secret") is None for c in endpoint.calls)
    assert {c.field("client_assertion_type") for c in endpoint.calls} == {
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


def test_the_key_only_signs_for_the_destination_it_was_saved_for(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        endpoint: AssertionTokenEndpoint, certificate: ClientCertificate) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint.issuer.upload(certificate.cert_pem)
    elsewhere = "https://login.example.com/other-tenant/oauth2/v2.0/token"
    with service.client(version=2) as client:
        assert client.put(ROUTE, json=pem_body(
            certificate, **binding(relay, endpoint))).status_code == 200
        assert client.put("/KeyfactorAPI/SMTP",
                          json=profile(relay, endpoint)).status_code == 200
        # Another endpoint, client or relay: the certificate does not sign; a secret is due.
        for change in ({"TokenEndpoint": elsewhere}, {"ClientId": {"SecretValue": "c-2"}},
                       {"Host": "other.test"}):
            message = error(client.put("/KeyfactorAPI/SMTP",
                                       json=profile(relay, endpoint, **change)),
                            400, "0xA0110001")
            assert "ClientSecret is required" in message
            message = error(client.post("/KeyfactorAPI/SMTP/Test", json={
                **profile(relay, endpoint, **change), "TestRecipient": RECIPIENT}),
                400, "0xA0110001")
        # The stored key is not carried to a new binding without being sent again...
        moved = error(client.put(ROUTE, json={"TokenEndpoint": elsewhere}), 400, "0xA0110007")
        assert "TokenEndpoint changed" in moved
        # ...but kept while the binding stays (recording the secret's expiry, say).
        kept = client.put(ROUTE, json={"ClientSecretExpires": "2027-06-30"})
        assert kept.status_code == 200, kept.text
        assert kept.json()["CertificateInfo"] is not None
        assert kept.json()["ClientSecretExpires"] == "2027-06-30"
        test = {**profile(relay, endpoint), "TestRecipient": RECIPIENT}
        ok = client.post("/KeyfactorAPI/SMTP/Test", json=test)
        assert ok.status_code == 200, ok.text
        # Weaker relay checks since the key was saved: it does not sign until saved again.
        assert client.put("/KeyfactorAPI/SMTP/Options",
                          json={"Insecure": True}).status_code == 200
        calls = len(endpoint.calls)
        weakened = error(client.post("/KeyfactorAPI/SMTP/Test", json=test), 400,
                         "0xA0110007")
        assert "Insecure changed" in weakened and len(endpoint.calls) == calls
        assert client.put(ROUTE, json=pem_body(certificate)).status_code == 200
        again = client.post("/KeyfactorAPI/SMTP/Test", json=test)
        assert again.status_code == 200, again.text
    assert endpoint.issuer.accepted_assertions[0]["claims"]["aud"] == endpoint.url


def test_etag_permissions_audit_pkcs12_and_delete(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        endpoint: AssertionTokenEndpoint, certificate: ClientCertificate) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    p12 = base64.b64encode(certificate.pkcs12(P12_PASSWORD)).decode()
    with service.client("reader", "reader-password") as reader:
        assert reader.get(ROUTE).status_code == 200
        error(reader.put(ROUTE, json={}), 403, "0xA0110011")
    with service.client(version=2) as client:
        empty = client.get(ROUTE)
        assert empty.json()["CertificateInfo"] is None
        error(client.put(ROUTE, json={"Pkcs12": p12, "Pkcs12Password": "wrong",
                                      **binding(relay, endpoint)}), 400, "0xA0110001")
        stale = client.put(ROUTE, headers={"if-match": '"oauth-credential-99"'},
                           json={"Pkcs12": p12, "Pkcs12Password": P12_PASSWORD,
                                 **binding(relay, endpoint)})
        error(stale, 412, "0xA0110014")
        saved = client.put(ROUTE, headers={"if-match": empty.headers["etag"]},
                           json={"Pkcs12": p12, "Pkcs12Password": P12_PASSWORD,
                                 **binding(relay, endpoint)})
        assert saved.status_code == 200, saved.text
        error(client.put(ROUTE, json={"Unknown": 1}), 400, "0xA0110001")
        removed = client.delete(ROUTE, headers={"if-match": saved.headers["etag"]})
        assert removed.status_code == 200 and removed.json()["CertificateInfo"] is None
        message = error(client.put("/KeyfactorAPI/SMTP", json=profile(relay, endpoint)),
                        400, "0xA0110001")
        assert "ClientSecret is required" in message
        audit = client.get("/KeyfactorAPI/SMTP/Audit",
                           params={"action": "OAuthCredential"}).json()
        spec = client.get("/KeyfactorAPI/openapi.json").json()
    assert set(spec["paths"]["/KeyfactorAPI/SMTP/OAuth/Credential"]) == {"get", "put",
                                                                       "delete"}
    outcomes = [(r["Success"], r["ErrorCode"]) for r in reversed(audit)]
    assert outcomes == [(False, "0xA0110011"), (False, "0xA0110001"), (False, "0xA0110014"),
                        (True, None), (False, "0xA0110001"), (True, None)]
    changes = {c["Field"]: c for c in audit[2]["Changes"]}
    assert changes["CertificateThumbprint"]["Old"] is None
    assert len(changes["CertificateThumbprint"]["New"]) == 40
    assert changes["PrivateKey"] == {"Field": "PrivateKey", "Old": None, "New": None,
                                     "Secret": True}


def test_neither_the_key_nor_the_pkcs12_password_nor_an_assertion_leaks(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        endpoint: AssertionTokenEndpoint, certificate: ClientCertificate,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    evidence = Evidence()
    r = evidence.response
    p12 = base64.b64encode(certificate.pkcs12(P12_PASSWORD)).decode()
    test = {**profile(relay, endpoint), "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        r(client.put(ROUTE, json={"Pkcs12": p12, "Pkcs12Password": P12_PASSWORD + "x",
                                  **binding(relay, endpoint)}))
        r(client.put(ROUTE, json={"Pkcs12": p12, "Pkcs12Password": P12_PASSWORD,
                                  **binding(relay, endpoint)}))
        r(client.put(ROUTE, json=pem_body(certificate, PrivateKey=certificate.key_pem + "\0")))
        r(client.get(ROUTE))
        r(client.put("/KeyfactorAPI/SMTP", json=profile(relay, endpoint)))
        r(client.post("/KeyfactorAPI/SMTP/Test", json=test))  # not uploaded: refused
        endpoint.issuer.upload(certificate.cert_pem)
        r(client.post("/KeyfactorAPI/SMTP/Test", json=test))
        r(client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}))
        r(client.get("/KeyfactorAPI/SMTP/Status"))
        r(client.get("/KeyfactorAPI/SMTP/Audit", params={"returnLimit": 1000}))
    evidence.add("log", "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}"
                                  for rec in caplog.records))
    evidence.add("database", raw_contents(service.settings).decode("utf-8", "replace"))
    key_lines = [line for line in certificate.key_pem.splitlines() if "-----" not in line]
    assertions = [c.field("client_assertion") or "" for c in endpoint.calls]
    needles = (key_lines[1:-1] + encodings(P12_PASSWORD, "client-1") + assertions
               + [TOKEN])
    assert len(assertions) == 2 and all(assertions)
    assert evidence.leaks(needles) == []
    assert relay.behaviour.xoauth2_attempts == [("svc@corp.local", TOKEN)] * 2
