"""Google Workspace without a password: a service account key, the JWT bearer grant
(RFC 7523) and AUTH XOAUTH2, through the real service.

The token endpoint is tests/support/google.py (it checks the assertion's RS256 signature
with the uploaded key's public half, and iss, aud, sub, scope, iat/exp, answering in
Google's error shape); the relay is aiosmtpd with STARTTLS, accepting only the token that
endpoint issued, for the mailbox the token was issued for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.test_audit import audit
from tests.api.test_smtp_routes import error
from tests.support.google import GMAIL_SCOPE, GoogleDomain, GoogleTokenEndpoint, rsa_key
from tests.support.service import RunningService, add_user
from tests.support.smtp import Behaviour, SmtpServer

ROUTE = "/KeyfactorAPI/SMTP/OAuth/ServiceAccount"
TOKEN = "ya29.Google-Access-Token-Canary-51c2"
MAILBOX = "svc@corp.local"


@pytest.fixture
def google() -> Iterator[GoogleTokenEndpoint]:
    endpoint = GoogleTokenEndpoint(GoogleDomain(tokens=[TOKEN]))
    yield endpoint
    endpoint.close()


def upload(service: RunningService, key_file: Any, relay: SmtpServer,
           **extra: Any) -> Any:
    with service.client() as client:
        return client.put(ROUTE, json={"KeyFile": key_file, "Host": "mail.test",
                                       "Port": relay.port, **extra})


def profile(relay: SmtpServer, google: GoogleTokenEndpoint, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Host": "mail.test", "Port": relay.port, "UseSSL": True, "RelayAuthenticationType": 3,
        "SenderAccount": MAILBOX, "SenderName": "Keyfactor Command",
        "ClientId": {"SecretValue": google.domain.client_id},
        "TokenEndpoint": google.url, "Scope": GMAIL_SCOPE,
    }
    body.update(overrides)
    return body


def diagnose(service: RunningService, body: dict[str, Any] | None = None) -> dict[str, Any]:
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Diagnose",
                               json={"TestRecipient": "pki@corp.local", **(body or {})})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in report["Steps"] if s["Name"] == name]
    assert len(found) == 1
    return found[0]


def test_upload_read_and_delete_the_key(service: RunningService,
                                        google: GoogleTokenEndpoint,
                                        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls")
    key_file = google.key_file(rsa_key(), "a1b2c3d4")
    with service.client() as client:
        empty = client.get(ROUTE)
    assert empty.status_code == 200 and empty.headers["etag"] == '"service-account-1"'
    assert empty.json()["Configured"] is False and empty.json()["PrivateKeyStored"] is False
    # Refused: not a service account key, a bad private key, plain SMTP; nothing stored.
    oauth_client = {"installed": {"client_id": "x", "client_secret": "y"}}
    message = error(upload(service, oauth_client, relay), 400, "0xA0110001")
    assert '"type" must be "service_account"' in message
    broken = {**key_file, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END "
              "PRIVATE KEY-----\n"}
    message = error(upload(service, broken, relay), 400, "0xA0110001")
    assert "not an unencrypted PEM private key" in message and "AAAA" not in message
    error(upload(service, key_file, relay, UseSSL=False), 400, "0xA0110001")
    error(upload(service, key_file, relay, Extra=1), 400, "0xA0110001")
    # Stored: the key file as an object (or its text), everything shown but the key.
    saved = upload(service, key_file, relay)
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == '"service-account-2"'
    body = saved.json()
    assert body == {
        "Configured": True, "ClientEmail": google.domain.client_email,
        "PrivateKeyId": "a1b2c3d4", "ClientId": google.domain.client_id,
        "TokenUri": google.url, "ProjectId": "smtp-profile-test", "Host": "mail.test",
        "Port": relay.port, "UseSSL": True, "PrivateKeyStored": True,
        "UpdatedAt": body["UpdatedAt"], "UpdatedBy": "admin"}
    assert "PRIVATE KEY" not in saved.text
    # If-Match: a stale ETag is a 412, the current one passes; a reader may not write.
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    with service.client("reader", "reader-password") as reader:
        assert reader.get(ROUTE).json()["Configured"] is True
        error(reader.delete(ROUTE), 403, "0xA0110011")
    with service.client() as client:
        error(client.delete(ROUTE, headers={"If-Match": '"service-account-1"'}),
              412, "0xA0110014")
        error(client.delete(ROUTE, headers={"If-Match": '"options-2"'}), 412, "0xA0110014")
        deleted = client.delete(ROUTE, headers={"If-Match": '"service-account-2"'})
        assert deleted.status_code == 200 and deleted.json()["Configured"] is False
        assert deleted.headers["etag"] == '"service-account-3"'
        # The key file's text works too; the relay defaults to smtp.gmail.com:587.
        again = client.put(ROUTE, json={"KeyFile": json.dumps(key_file, indent=2)},
                           headers={"If-Match": '"service-account-3"'})
        assert again.status_code == 200 and again.json()["PrivateKeyId"] == "a1b2c3d4"
        assert (again.json()["Host"], again.json()["Port"]) == ("smtp.gmail.com", 587)
    records = audit(service, action="ServiceAccount")
    outcomes = [r["Success"] for r in reversed(records)]
    assert outcomes == [False, False, False, False, True, False, False, False, True, True]
    uploaded = [r for r in records if r["Success"]][-1]
    changes = {c["Field"]: c for c in uploaded["Changes"]}
    assert changes["PrivateKeyId"]["New"] == "a1b2c3d4"
    assert changes["PrivateKey"] == {"Field": "PrivateKey", "Old": None, "New": None,
                                     "Secret": True}


def test_delegation_missing_then_granted_on_one_instance(
        service: RunningService, google: GoogleTokenEndpoint,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    assert upload(service, google.key_file(rsa_key(), "k1"), relay).status_code == 200
    with service.client(version=2) as client:
        saved = client.put("/KeyfactorAPI/SMTP", json=profile(relay, google))
        assert saved.status_code == 200, saved.text
        assert saved.json()["ClientSecret"] is None
        # A client secret beside the key it names is refused: one credential, no doubt.
        message = error(client.put("/KeyfactorAPI/SMTP", json=profile(
            relay, google, ClientSecret={"SecretValue": "not-needed"})), 400, "0xA0110001")
        assert "ClientSecret must be empty" in message
    # Failure: domain-wide delegation not granted for the scope.
    failed = diagnose(service)
    token = step(failed, "token")
    assert failed["Success"] is False and token["Status"] == "failed"
    assert "unauthorized_client" in token["Message"]
    assert "Domain-wide delegation" in token["Hint"] and "https://mail.google.com/" in token["Hint"]
    assert relay.behaviour.xoauth2_attempts == []
    # The assertion Google saw: RS256 with the key's kid, and the claims RFC 7523 wants.
    [call] = google.calls
    assert call.header == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert call.claims is not None
    assert {k: v for k, v in call.claims.items() if k not in ("iat", "exp")} == {
        "iss": google.domain.client_email, "sub": MAILBOX, "scope": GMAIL_SCOPE,
        "aud": google.url}
    assert 0 < call.claims["exp"] - call.claims["iat"] <= 3600
    assert set(call.form) == {"grant_type", "assertion"}
    # Success, same instance: the administrator granted the delegation.
    google.domain.delegated_scopes.add(GMAIL_SCOPE)
    passed = diagnose(service)
    assert passed["Success"] is True, passed
    details = step(passed, "token")["Details"]
    assert details["grant"] == "jwt-bearer" and details["subject"] == MAILBOX
    assert details["service_account"] == google.domain.client_email
    assert relay.behaviour.xoauth2_attempts == [(MAILBOX, TOKEN)]
    assert len(relay.received) == 1


def test_google_refusals_are_explained_then_a_good_mailbox_passes(
        service: RunningService, google: GoogleTokenEndpoint,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    google.domain.delegated_scopes.add(GMAIL_SCOPE)
    key_file = google.key_file(rsa_key(), "k1")
    assert upload(service, key_file, relay).status_code == 200
    # A mailbox outside the Workspace domain: invalid_grant, hint names the causes.
    outsider = diagnose(service, profile(relay, google, SenderAccount="someone@else.example"))
    token = step(outsider, "token")
    assert "invalid_grant" in token["Message"] and "Invalid email or User ID" in token["Message"]
    assert "not be a user of the Workspace domain" in token["Hint"]
    assert "clock" in token["Hint"] and "7 days" in token["Hint"]
    # The key deleted in the Cloud console: Google no longer knows its kid.
    del google.domain.keys["k1"]
    revoked = step(diagnose(service, profile(relay, google)), "token")
    assert "Invalid JWT Signature" in revoked["Message"]
    assert "deleted or disabled" in revoked["Hint"]
    # A current key uploaded: the same settings pass.
    assert upload(service, google.key_file(rsa_key(), "k2"), relay).status_code == 200
    passed = diagnose(service, profile(relay, google))
    assert passed["Success"] is True, passed
    assert google.calls[-1].header is not None and google.calls[-1].header["kid"] == "k2"


def test_the_key_signs_only_for_what_it_was_saved_for(
        service: RunningService, google: GoogleTokenEndpoint,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    other = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    google.domain.delegated_scopes.add(GMAIL_SCOPE)
    assert upload(service, google.key_file(rsa_key(), "k1"), relay).status_code == 200
    with service.client(version=2) as client:
        # Another relay: the key's tokens would go where it was not saved for.
        message = error(client.put("/KeyfactorAPI/SMTP", json=profile(
            relay, google, Port=other.port)), 400, "0xA0110007")
        assert "Port changed" in message and "/SMTP/OAuth/ServiceAccount" in message
        with service.client(version=2) as tester:
            refused = tester.post("/KeyfactorAPI/SMTP/Test", json={
                **profile(relay, google, Host="localhost"), "TestRecipient": "pki@corp.local"})
        assert "Host changed" in error(refused, 400, "0xA0110007")
        # Another ClientId does not name the key: it needs a client secret of its own.
        message = error(client.put("/KeyfactorAPI/SMTP", json=profile(
            relay, google, ClientId={"SecretValue": "someone-else"})), 400, "0xA0110001")
        assert "ClientSecret is required" in message
    assert google.calls == [] and other.behaviour.xoauth2_attempts == []
    # The relay options changed since the key was saved: upload it again.
    with service.client() as client:
        assert client.put("/KeyfactorAPI/SMTP/Options",
                          json={"Mechanism": "auto", "Insecure": True}).status_code == 200
        assert client.put("/KeyfactorAPI/SMTP", headers={"x-keyfactor-api-version": "2"},
                          json=profile(relay, google)).status_code == 200
        with service.client(version=2) as tester:
            message = error(tester.post("/KeyfactorAPI/SMTP/Diagnose", json={}),
                            400, "0xA0110007")
        assert "Insecure" in message
        assert client.put("/KeyfactorAPI/SMTP/Options", json={}).status_code == 200
    # Deleted: the stored type-3 profile has no credential left, and says so.
    with service.client() as client:
        assert client.delete(ROUTE).status_code == 200
    with service.client(version=2) as tester:
        message = error(tester.post("/KeyfactorAPI/SMTP/Diagnose", json={}), 400, "0xA0110001")
    assert "no service account key" in message
    # Uploaded again for this relay: the stored profile passes, on the same instance.
    assert upload(service, google.key_file(rsa_key(), "k1"), relay).status_code == 200
    assert diagnose(service)["Success"] is True
