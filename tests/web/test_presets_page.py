"""The provider preset select on the admin page, in headless Chromium: it fills the fields
its provider documents, asks for what it needs (a tenant, a region) before filling, never
hides a field or touches a value the operator typed, and what it filled saves as is."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.service import RunningService
from tests.web.admin_page import AdminPage
from tests.web.test_browser import admin_page, stored

TENANT = "contoso.onmicrosoft.com"


def visible_fields(page: Page) -> list[str]:
    ids: list[str] = page.evaluate("""() => Array.from(document.querySelectorAll(
        '#settings-form input, #settings-form select')).filter(e => e.offsetParent !== null)
        .map(e => e.id)""")
    return ids


def choose(admin: AdminPage, title: str) -> None:
    admin.field("Provider").select_option(label=title)


def test_a_preset_fills_fields_and_hides_nothing(page: Page,
                                                service: RunningService) -> None:
    admin = admin_page(page, service)
    admin.fill_general(host="relay.corp.local", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.field("Relay authentication").select_option(label="OAuth Client Credentials")
    admin.field("Client ID").fill("00000000-1111-2222-3333-444444444444")
    before = visible_fields(page)
    # Microsoft 365 needs a tenant: asked for, and nothing filled until it is valid.
    choose(admin, "Microsoft 365 (OAuth, app-only)")
    expect(page.locator("#preset-note")).to_contain_text("SMTP.SendAsApp")
    tenant = admin.field("Tenant ID or domain")
    expect(tenant).to_be_visible()
    admin.button("Fill fields").click()
    expect(admin.error_of("preset-parameter")).to_contain_text("Entra tenant")
    expect(admin.field("Host")).to_have_value("relay.corp.local")
    tenant.fill(TENANT)
    admin.button("Fill fields").click()
    expect(admin.error_of("preset-parameter")).to_be_hidden()
    expect(admin.field("Host")).to_have_value("smtp.office365.com")
    expect(admin.field("Port")).to_have_value("587")
    expect(page.locator("#tls-starttls")).to_be_checked()
    expect(admin.field("Token Endpoint")).to_have_value(
        f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
    expect(admin.field("Scope")).to_have_value("https://outlook.office365.com/.default")
    # Only filled: what the operator typed stays, and every field is still there.
    expect(admin.field("Client ID")).to_have_value("00000000-1111-2222-3333-444444444444")
    expect(admin.field("Sender Account")).to_have_value("pki@corp.local")
    assert set(before) <= set(visible_fields(page))
    # SendGrid, Basic: the user name it fixes, then the operator's API key, saved.
    choose(admin, "SendGrid")
    expect(admin.field("Tenant ID or domain")).to_be_hidden()
    admin.button("Fill fields").click()
    expect(admin.field("Relay authentication")).to_have_value("2")
    expect(admin.field("Username")).to_have_value("apikey")
    expect(admin.field("Host")).to_have_value("smtp.sendgrid.net")
    page.locator("#relay-password").fill("SG.an-api-key")
    admin.save()
    expect(admin.status).to_contain_text("saved", ignore_case=True)
    saved = stored(service)
    assert saved["Host"] == "smtp.sendgrid.net" and saved["Port"] == 587
    assert saved["RelayUsername"]["SecretValue"] == "apikey"
    assert saved["UseSSL"] is True and saved["RelayAuthenticationType"] == 2
