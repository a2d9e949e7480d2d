"""The page's client-certificate section and Status warnings, in real Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.client_certs import ClientIdentity
from tests.support.service import RunningService
from tests.web.admin_page import AdminPage


def test_set_see_warned_and_remove_a_client_certificate(page: Page, service: RunningService,
                                                        tmp_path: Path) -> None:
    identity = ClientIdentity(days=10)
    (tmp_path / "client.pem").write_text(identity.certificate_pem)
    (tmp_path / "client.key").write_text(identity.key_pem())
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            "Host": "relay.corp.local", "Port": 587, "UseSSL": True,
            "RelayAuthenticationType": 0, "SenderAccount": "pki@corp.local",
            "SenderName": "PKI"}).raise_for_status()
    admin = AdminPage(page, service).open().sign_in()
    section = page.locator("#client-cert-panel")
    expect(section).to_contain_text("No client certificate is set")
    warnings = page.locator("#settings-warnings")
    expect(warnings).to_be_hidden()

    # Nothing chosen: said so, nothing sent.
    admin.button("Save certificate").click()
    expect(page.locator("#client-cert-error")).to_have_text(
        "Choose a PKCS#12 file, or a certificate PEM and its key PEM.")
    # The wrong key: the server's refusal, then the right one.
    page.get_by_label("or certificate (PEM, chain)").set_input_files(tmp_path / "client.pem")
    (tmp_path / "other.key").write_text(ClientIdentity().key_pem())
    page.get_by_label("and private key (PEM)").set_input_files(tmp_path / "other.key")
    admin.button("Save certificate").click()
    expect(page.locator("#client-cert-error")).to_contain_text("does not belong")
    page.get_by_label("and private key (PEM)").set_input_files(tmp_path / "client.key")
    admin.button("Save certificate").click()
    expect(page.locator("#client-cert-status")).to_have_text("Client certificate saved.")
    expect(section).to_contain_text(identity.sha256)
    expect(section).to_contain_text("relay.corp.local:587 (TLS)")
    expect(warnings.locator(".message.warning")).to_contain_text(
        "The relay client certificate")
    expect(warnings).to_contain_text("expires in 9 days")

    page.reload()
    admin.wait_loaded()
    expect(warnings).to_contain_text("expires in 9 days")
    assert "PRIVATE KEY" not in page.content()
    admin.button("Remove certificate").click()
    expect(page.locator("#client-cert-status")).to_have_text("Client certificate removed.")
    expect(section).to_contain_text("No client certificate is set")
    expect(warnings).to_be_hidden()
