"""The page says where each credential comes from: stored here, or a PAM provider."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.pam import TYPE_NAME, FileProviderType, Vault, file_provider_type
from tests.support.service import RunningService
from tests.web.test_browser import admin_page, put, stored

__all__ = ["file_provider_type"]


def test_the_page_shows_the_provider_and_keeps_the_reference(
        page: Page, service: RunningService, file_provider_type: FileProviderType,
        tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", "Page-Token-1")
    with service.client(version=2) as client:
        provider = client.post("/KeyfactorAPI/PamProviders", json=vault.provider_body())
    assert provider.status_code == 200, provider.text
    reference = {"Provider": provider.json()["Id"], "Parameters": {"File": "smtp-password"}}
    basic = {"Host": "mail.test", "Port": 2525, "RelayAuthenticationType": 2,
             "RelayUsername": {"SecretValue": "svc@corp.local"},
             "RelayPassword": reference, "SenderAccount": "svc@corp.local",
             "SenderName": "KF"}
    assert put(service, basic).status_code == 200

    admin = admin_page(page, service)
    note = page.locator('.pam-source[data-pam-field="RelayPassword"]')
    expect(note).to_have_text(
        f"The password comes from PAM provider \u201cfiles ({TYPE_NAME})\u201d: "
        "File = smtp-password. It is fetched when a test needs it and never stored here. "
        "Change it with a version-2 PUT /SMTP.")
    admin.field("Sender Name").fill("KF 2")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    assert stored(service)["RelayPassword"] == {"SecretValue": None, **reference}

    assert put(service, {**basic, "RelayPassword": {"SecretValue": "pw-1"}}).status_code == 200
    page.reload()
    admin.wait_loaded()
    expect(note).to_have_text("The password is stored here (encrypted).")
