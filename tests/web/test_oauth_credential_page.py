"""The page's OAuth certificate credential (static/oauth-credential.js) in Chromium: shown
for a type-3 profile without any key, replaced from PEM files, removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.assertion_endpoint import (
    AppRegistration,
    AssertionTokenEndpoint,
    make_certificate,
)
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, SmtpServer
from tests.web.admin_page import AdminPage

ENDPOINT = "https://login.example.com/tenant/oauth2/v2.0/token"
ROUTE = "/KeyfactorAPI/SMTP/OAuth/Credential"
TOKEN = "Page-Cert-Access-Token-7e2a"
SCOPE = "https://outlook.office365.com/.default"


def test_the_certificate_credential_is_shown_replaced_and_removed(
        page: Page, service: RunningService, smtp_server: Callable[..., SmtpServer],
        tmp_path: Path) -> None:
    relay = smtp_server("starttls")
    first, second = make_certificate(kind="ec"), make_certificate(kind="ec", name="second")
    with service.client(version=2) as client:
        saved = client.put("/KeyfactorAPI/SMTP/OAuth/Credential", json={
            "Certificate": first.cert_pem, "PrivateKey": first.key_pem,
            "TokenEndpoint": ENDPOINT, "ClientId": "client-1", "Host": "mail.test",
            "Port": relay.port, "UseSSL": True})
        thumbprint = saved.json()["CertificateInfo"]["Thumbprint"]
        assert client.put("/KeyfactorAPI/SMTP", json={
            "Host": "mail.test", "Port": relay.port, "UseSSL": True,
            "RelayAuthenticationType": 3, "SenderAccount": "svc@corp.local",
            "SenderName": "KF", "ClientId": {"SecretValue": "client-1"},
            "TokenEndpoint": ENDPOINT}).status_code == 200
    admin = AdminPage(page, service).open().sign_in()
    admin.wait_loaded()
    summary = page.locator("#oauth-credential-summary")
    expect(summary).to_contain_text(thumbprint)
    expect(summary).to_contain_text("In useyes")
    # No client secret is stored (Status says so) and none is needed: the page says both.
    expect(page.locator("#client-secret-hint")).to_contain_text(
        "Not needed: the certificate credential below signs the token requests")
    expect(page.locator('.pam-source[data-pam-field="ClientSecret"]')).to_have_count(0)
    assert "PRIVATE KEY" not in page.content()

    (tmp_path / "second.crt").write_text(second.cert_pem)
    (tmp_path / "second.key").write_text(second.key_pem)
    page.set_input_files("#oauth-certificate-file", str(tmp_path / "second.crt"))
    page.locator("#oauth-client-secret-expires").fill("2027-06-30")
    page.locator("#oauth-credential-save").click()
    expect(page.locator("#oauth-credential-error")).to_contain_text(
        "Choose both the certificate and its private key")
    page.set_input_files("#oauth-key-file", str(tmp_path / "second.key"))
    page.locator("#oauth-credential-save").click()
    expect(page.locator("#oauth-credential-status")).to_have_text("Saved.")
    expect(summary).to_contain_text("CN=second")
    with service.client() as client:
        body = client.get("/KeyfactorAPI/SMTP/OAuth/Credential").json()
    assert body["CertificateInfo"]["Subject"] == "CN=second"
    assert body["ClientSecretExpires"] == "2027-06-30"

    page.locator("#oauth-credential-remove").click()
    expect(summary).to_contain_text("No certificate is stored")


def test_a_new_user_makes_a_profile_that_signs_with_a_certificate_and_has_no_secret(
        page: Page, service: RunningService, smtp_server: Callable[..., SmtpServer],
        tmp_path: Path) -> None:
    """Issue 18 from the page alone: the form asks for no client secret once a certificate
    is bound to what it shows, Save stores none, and Test signs with the certificate,
    failing at 'token' while the provider lacks it, then passing on the same instance."""
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = AssertionTokenEndpoint(AppRegistration(client_id="client-1", scope=SCOPE,
                                                      tokens=[TOKEN]))
    certificate = make_certificate()
    (tmp_path / "app.crt").write_text(certificate.cert_pem)
    (tmp_path / "app.key").write_text(certificate.key_pem)
    try:
        admin = AdminPage(page, service).open().sign_in()
        admin.fill_general(host="mail.test", port=relay.port, sender_name="PKI",
                           sender="pki@corp.local", use_ssl=True)
        admin.field("Relay authentication").select_option(label="OAuth Client Credentials")
        admin.field("Client ID").fill("client-1")
        admin.field("Token Endpoint").fill(endpoint.url)
        admin.field("Scope").fill(SCOPE)
        secret = admin.field("Client Secret")
        # Neither a secret nor a certificate: the page says what is missing, sends nothing.
        admin.save()
        expect(admin.error_of("client-secret")).to_contain_text(
            "Client Secret is required (or a certificate credential")
        assert stored(service)["RelayAuthenticationType"] == 0

        page.set_input_files("#oauth-certificate-file", str(tmp_path / "app.crt"))
        page.set_input_files("#oauth-key-file", str(tmp_path / "app.key"))
        page.locator("#oauth-credential-save").click()
        expect(page.locator("#oauth-credential-status")).to_have_text("Saved.")
        expect(page.locator("#client-secret-hint")).to_contain_text("Not needed")
        expect(secret).not_to_have_attribute("required", "")
        with service.client(version=2) as client:
            credential = client.get(ROUTE).json()
        assert (credential["TokenEndpoint"], credential["ClientId"], credential["Host"],
                credential["Port"], credential["UseSSL"]) == (
            endpoint.url, "client-1", "mail.test", relay.port, True)

        admin.save()
        expect(admin.status).to_be_visible()
        # The credential is read again with the saved profile: now in use.
        expect(page.locator("#oauth-credential-summary")).to_contain_text("In useyes")
        saved = stored(service)
        assert saved["RelayAuthenticationType"] == 3 and saved["ClientSecret"] is None
        with service.client(version=2) as client:
            assert client.get(ROUTE).json()["InUse"] is True

        # The certificate is not on the app registration yet: the token step fails and
        # says why; uploaded, the same running instance sends.
        result = admin.run_test("pki-admin@corp.local")
        expect(result).to_contain_text("token")
        expect(result).to_contain_text("AADSTS700027")
        assert relay.received == []
        endpoint.issuer.upload(certificate.cert_pem)
        admin.button("Close").click()
        result = admin.run_test("pki-admin@corp.local")
        expect(result).to_contain_text("sent", ignore_case=True)
        assert relay.behaviour.xoauth2_attempts == [("pki@corp.local", TOKEN)]
        assert all(call.field("client_secret") is None for call in endpoint.calls)

        # Another client in the form: the certificate does not sign for it, so the secret
        # is asked for again before anything is sent.
        admin.field("Client ID").fill("client-2")
        expect(secret).to_have_attribute("required", "")
        expect(page.locator("#client-secret-hint")).not_to_contain_text("Not needed")
        admin.save()
        expect(admin.error_of("client-secret")).to_contain_text("Client Secret is required")
        assert stored(service)["ClientId"]["SecretValue"] == "client-1"
    finally:
        endpoint.close()


def stored(service: RunningService) -> dict[str, Any]:
    with service.client(version=2) as client:
        body: dict[str, Any] = client.get("/KeyfactorAPI/SMTP").json()
    return body
