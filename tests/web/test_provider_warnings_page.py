"""The page shows the settings' warnings: Microsoft's dates for Basic authentication in
the report of a test against Exchange Online (a loopback relay named smtp.office365.com),
and GET /SMTP/Status's Warnings above the form (static/warnings.js)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import pytest
import trustme
from playwright.sync_api import Page, Route, expect

from tests.support.providers import PROVIDER_NAMES, ProviderRelay, provider_context
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, LoopThread
from tests.web.admin_page import AdminPage

PASSWORD = "Page-Deadline-Pa55"
MAILBOX = "svc@contoso.example"


@pytest.fixture
def resolver() -> StaticResolver:
    """The service's resolver: the providers' names lead to 127.0.0.1."""
    return StaticResolver({name: ["127.0.0.1"] for name in PROVIDER_NAMES})


@pytest.fixture
def exchange(loop_thread: LoopThread, ca: trustme.CA) -> Iterator[ProviderRelay]:
    context: ssl.SSLContext = provider_context(ca)
    relay = ProviderRelay(loop_thread, context, Behaviour(users={MAILBOX: PASSWORD}))
    yield relay
    relay.close()


def test_a_test_against_exchange_online_with_a_password_shows_microsofts_dates(
        page: Page, service: RunningService, exchange: ProviderRelay) -> None:
    admin = AdminPage(page, service).open().sign_in()
    admin.fill_general(host="smtp.office365.com", port=exchange.port, sender_name="PKI",
                       sender=MAILBOX, use_ssl=True)
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    admin.field("Username").fill(MAILBOX)
    admin.field("Password").fill(PASSWORD)
    result = admin.run_test("pki-admin@contoso.example")
    expect(result.get_by_role("heading")).to_have_text(
        "Test e-mail sent to pki-admin@contoso.example")
    warning = result.locator('[data-code="microsoft-basic-auth-retirement"]')
    expect(warning).to_contain_text("RelayAuthenticationType 3")
    expect(warning).to_contain_text("second half of 2027")
    expect(warning.get_by_role("link", name="More")).to_have_attribute(
        "href", "https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-"
        "online/authenticated-client-smtp-submission")


def test_status_warnings_are_shown_above_the_form(page: Page,
                                                  service: RunningService) -> None:
    """GET /SMTP/Status's Warnings (the shape the report's Warnings have) are shown as
    they come; the Status answer is the real one with a Warnings list added."""
    warnings = [{"Code": "client-certificate-expiring", "Severity": "critical",
                 "Message": "The client certificate expires in 3 days.", "Date": None,
                 "Link": None}]

    def add_warnings(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["Warnings"] = warnings
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/SMTP/Status", add_warnings)
    AdminPage(page, service).open().sign_in()
    shown = page.locator("#settings-warnings")
    expect(shown).to_be_visible()
    expect(shown.locator(".message.error")).to_have_text(
        "The client certificate expires in 3 days.")
