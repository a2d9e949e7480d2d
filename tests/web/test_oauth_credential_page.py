"""The page's OAuth certificate credential (static/oauth-credential.js) in Chromium: shown
for a type-3 profile without any key, replaced from PEM files, removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.assertion_endpoint import make_certificate
from tests.support.service import RunningService
from tests.support.smtp import SmtpServer
from tests.web.admin_page import AdminPage

ENDPOINT = "https://login.example.com/tenant/oauth2/v2.0/token"


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
    expect(page.locator('.secret[data-secret="client-secret"] .stored-note')).to_contain_text(
        "The certificate credential below signs the token requests")
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
