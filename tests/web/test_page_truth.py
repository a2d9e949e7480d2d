"""The page tells the whole truth (issue 16, items 2, 3, 5, 7 and 9), in headless Chromium.

Against the real service and real SMTP servers on 127.0.0.1: the report with each step's
details and warnings, the operator's refusal of clear-text credentials, the encryption
choice and the ports it suggests, messages in the page's words, an accessibility engine
(axe-core 4.12, from the axe-playwright-python package) and the keyboard alone, and the
report on a phone-sized window.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, expect

from smtp_profile.domain.addresses import MAX_ADDRESS, MAX_HOST_LENGTH
from smtp_profile.domain.oauth import (
    MAX_AUDIENCE_LENGTH,
    MAX_CLIENT_ID_LENGTH,
    MAX_SCOPE_LENGTH,
    MAX_TOKEN_ENDPOINT_LENGTH,
)
from smtp_profile.domain.profile import MAX_NAME_LENGTH, MAX_SECRET_LENGTH, MAX_USERNAME_LENGTH
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, add_user, service_settings, start_service
from tests.support.smtp import Behaviour, ScriptedServer, SmtpServer, silent
from tests.web.admin_page import AdminPage
from tests.web.conftest import TIMEOUT_MS

RECIPIENT = "pki-admin@corp.local"
PASSWORD = "Truth-Pa55-w0rd-4d1"
USERS = {"svc_mail": PASSWORD}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def strict_service(tmp_path: Path, ca_bundle: Path,
                   resolver: StaticResolver) -> Iterator[RunningService]:
    """An operator who refuses credentials without TLS everywhere and uses TLS from the
    first byte on port 2465 only."""
    running = start_service(service_settings(
        tmp_path / "strict", ca_bundle, cleartext_credentials="never",
        implicit_tls_ports="2465"), resolver)
    yield running
    running.stop()


def signed_in(page: Page, service: RunningService) -> AdminPage:
    return AdminPage(page, service).open().sign_in()


def basic_auth(admin: AdminPage, *, host: str, port: int, encryption: str) -> None:
    admin.fill_general(host=host, port=port, sender_name="PKI", sender="svc_mail@corp.local")
    admin.encryption(encryption)
    admin.field("Port").fill(str(port))
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    admin.field("Username").fill("svc_mail")
    admin.field("Password").fill(PASSWORD)


def run_test(admin: AdminPage) -> Any:
    admin.button("Test").click()
    admin.page.get_by_label("Recipient", exact=True).fill(RECIPIENT)
    admin.button("Send test e-mail").click()
    result = admin.page.locator("#test-result")
    expect(result.get_by_role("heading")).to_be_visible(timeout=60_000)
    return result


# ---- item 2: the whole truth of a test ---------------------------------------------------

def test_a_password_sent_in_clear_text_is_a_warning_with_every_detail_and_a_copy(
        page: Page, service: RunningService,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(users=USERS))
    admin = signed_in(page, service)
    basic_auth(admin, host="127.0.0.1", port=relay.port, encryption="None")
    # Said before anything is sent, with what this operator allows (loopback, the default).
    warning = page.locator("#cleartext-warning")
    expect(warning).to_contain_text("Without encryption the password is sent readable")
    expect(warning).to_contain_text("only to a relay on this machine")

    result = run_test(admin)
    expect(result.get_by_role("heading")).to_have_text(
        f"Test e-mail sent to {RECIPIENT}, with a warning")
    expect(result).to_have_class(re.compile(r"\bwarning\b"))  # amber, not green
    expect(result).not_to_have_class(re.compile(r"\bsuccess\b"))
    expect(result).to_contain_text("Warning: AUTH: the password was sent without encryption")
    auth_row = result.locator("tr.step-warning")
    expect(auth_row).to_have_count(1)
    expect(auth_row.locator("th")).to_have_text("AUTH")
    expect(auth_row.locator("td.result")).to_have_text("warning")
    expect(auth_row).to_contain_text("Warning: credentials sent without TLS")
    # Each step's details, one click away.
    auth_row.get_by_text("Details").click()
    expect(auth_row.locator("dl.step-details")).to_contain_text("mechanism")
    expect(auth_row.locator("dl.step-details")).to_contain_text("PLAIN")
    # The test id, once.
    test_id = relay.received[0].message["Message-ID"].strip("<>").split("@")[0]
    assert result.inner_text().count(test_id) == 1

    # A copy for a ticket: text and JSON, both without the password.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    admin.button("Copy report as text").click()
    expect(page.locator("#copy-status")).to_have_text("Copied the report as text.")
    text = page.evaluate("() => navigator.clipboard.readText()")
    assert f"Test id: {test_id}" in text
    assert "Outcome: passed with warnings" in text
    assert "warning: credentials sent without TLS" in text
    assert "C: AUTH PLAIN ***" in text
    admin.button("Copy report as JSON").click()
    expect(page.locator("#copy-status")).to_have_text("Copied the report as JSON.")
    copied = json.loads(page.evaluate("() => navigator.clipboard.readText()"))
    assert copied["Report"]["TestId"] == test_id
    assert copied["Context"]["encryption"] == "no encryption"
    assert PASSWORD not in text and PASSWORD not in json.dumps(copied)

    # Item 9: the same report on a phone: whole words, "Time (ms)" over its numbers.
    page.set_viewport_size(PHONE)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    broken = broken_words(page, "#test-result table.steps")
    assert broken == [], broken
    assert time_column_misalignment(page) <= 1
    assert clipped_cells(page, "#test-result table.steps") == []


def broken_words(page: Page, selector: str) -> list[str]:
    """Words (runs of letters and digits) of the visible text in `selector` split over two
    lines. A line may end after a hyphen, a dot or an @ of a long identifier; never inside
    a word ("Resu|lt")."""
    found: list[str] = page.evaluate("""(selector) => {
        const broken = [];
        const root = document.querySelector(selector);
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const node = walker.currentNode;
            const re = /[A-Za-z0-9]+/g;  // a word: letters and digits, as read
            let m;
            while ((m = re.exec(node.data)) !== null) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const lines = new Set(Array.from(range.getClientRects())
                    .filter((r) => r.width > 0).map((r) => Math.round(r.top)));
                if (lines.size > 1) { broken.push(m[0]); }
            }
        }
        return broken;
    }""", selector)
    return found


def clipped_cells(page: Page, selector: str) -> list[str]:
    """Cells of the table whose text is wider than the cell (cut off or spilling over)."""
    found: list[str] = page.evaluate("""(selector) => Array.from(
        document.querySelectorAll(selector + ' th, ' + selector + ' td'))
        .filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent)""",
        selector)
    return found


def time_column_misalignment(page: Page) -> float:
    """Largest distance (px) between the right edge of "Time (ms)" and of its numbers."""
    spread: float = page.evaluate("""() => {
        const head = document.querySelector('#test-result table.steps thead th.num');
        const right = head.getBoundingClientRect().right;
        const cells = Array.from(document.querySelectorAll('#test-result table.steps td.num'));
        return Math.max(...cells.map((c) => Math.abs(c.getBoundingClientRect().right - right)));
    }""")
    return spread


def test_the_operators_refusal_is_explained_then_starttls_works_and_ports_follow_the_server(
        page: Page, strict_service: RunningService,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users=USERS))
    admin = signed_in(page, strict_service)
    # Item 3: the implicit-TLS ports are the operator's, learnt from GET /SMTP/Status.
    implicit = admin.settings.get_by_role("radio", name=re.compile("^TLS from the first byte"))
    expect(implicit).to_have_accessible_name("TLS from the first byte (port 2465)")
    admin.encryption("TLS from the first byte")
    expect(admin.field("Port")).to_have_value("2465")
    expect(page.locator("#tls-note")).to_contain_text("Port set to 2465")
    admin.encryption("STARTTLS")
    expect(admin.field("Port")).to_have_value("587")
    admin.encryption("None")
    expect(admin.field("Port")).to_have_value("25")
    admin.field("Port").fill("2525")  # an unusual port is the user's own: kept
    admin.encryption("STARTTLS")
    expect(admin.field("Port")).to_have_value("2525")
    admin.field("Port").fill("2465")  # typing an implicit-TLS port: the choice follows
    expect(implicit).to_be_checked()

    # OAuth requires encryption in the form.
    admin.fill_general(host="smtp.office365.com", port=587, sender_name="PKI",
                       sender="pki@corp.local")
    admin.field("Relay authentication").select_option(label="OAuth Client Credentials")
    admin.save()
    expect(admin.error_of("use-ssl")).to_contain_text("OAuth needs encryption")
    expect(admin.settings.get_by_role("radio", name="None")).to_be_focused()
    admin.field("Relay authentication").select_option(label="Anonymous")

    # The refusal of credentials without TLS: the step, the reason, the setting.
    basic_auth(admin, host="127.0.0.1", port=relay.port, encryption="None")
    expect(page.locator("#cleartext-warning")).to_contain_text("does not allow it")
    result = run_test(admin)
    expect(result.get_by_role("heading")).to_have_text("Test failed at step AUTH")
    expect(result).to_contain_text("Why: This service's operator does not allow the "
                                   "password to be sent without encryption")
    expect(result).to_contain_text("SMTP_PROFILE_CLEARTEXT_CREDENTIALS=never")
    expect(result.locator("tr.step-failed th")).to_have_text("AUTH")
    assert relay.received == [] and relay.behaviour.auth_logins == []

    # The same service and relay with STARTTLS: sent, no warning, UseSSL stored as true.
    admin.encryption("STARTTLS")
    admin.field("Port").fill(str(relay.port))
    admin.button("Send test e-mail").click()
    expect(result.get_by_role("heading")).to_have_text(f"Test e-mail sent to {RECIPIENT}")
    expect(result).to_have_class(re.compile(r"\bsuccess\b"))
    expect(result.locator("tr.step-warning")).to_have_count(0)
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    with strict_service.client(version=2) as client:
        stored = client.get("/KeyfactorAPI/SMTP").json()
    assert (stored["UseSSL"], stored["Port"]) == (True, relay.port)


def test_a_test_can_be_cancelled_and_the_page_says_what_the_server_does(
        page: Page, service: RunningService,
        scripted_server: Callable[..., ScriptedServer]) -> None:
    mute = scripted_server(silent)
    admin = signed_in(page, service)
    admin.fill_general(host="127.0.0.1", port=mute.port, sender_name="PKI",
                       sender="pki@corp.local")
    admin.button("Test").click()
    page.get_by_label("Recipient", exact=True).fill(RECIPIENT)
    admin.button("Send test e-mail").click()
    expect(page.locator("#test-progress")).to_be_visible()
    expect(admin.button("Send test e-mail")).to_have_attribute("aria-disabled", "true")
    admin.button("Cancel test").click()
    result = page.locator("#test-result")
    expect(result.get_by_role("heading")).to_have_text("Test cancelled")
    expect(result).to_contain_text("The service finishes the test it started")
    expect(result).to_be_focused()
    expect(page.locator("#test-progress")).to_be_hidden()
    expect(admin.button("Cancel test")).to_be_hidden()
    expect(admin.button("Send test e-mail")).not_to_have_attribute("aria-disabled", "true")
    # As the page said: the service ran the test to its end and recorded it.
    with service.client() as client:
        for _ in range(200):
            entries = client.get("/KeyfactorAPI/SMTP/Audit").json()
            diagnoses = [e for e in entries if e["Action"] == "Diagnose"
                         and e["Success"] is False]
            if diagnoses:
                break
            page.wait_for_timeout(100)
    assert diagnoses, entries[:3]


# ---- item 5: messages for people -----------------------------------------------------------

def test_common_mistakes_are_recognised_and_inputs_carry_the_servers_limits(
        page: Page, service: RunningService) -> None:
    admin = signed_in(page, service)
    admin.fill_general(host="http://127.0.0.1", port=25, sender_name="PKI",
                       sender="pki@corp.local.")
    admin.field("Port").fill("1e3")
    admin.save()
    expect(admin.error_of("host")).to_have_text(
        'Host is only the relay\'s name or address: leave out "http://", e.g. 127.0.0.1.')
    expect(admin.error_of("port")).to_contain_text("in digits only")
    expect(admin.error_of("sender-account")).to_contain_text("must not end with a dot")
    expect(admin.field("Host")).to_be_focused()
    admin.field("Host").fill("smtp.corp.local:587")
    admin.save()
    expect(admin.error_of("host")).to_have_text(
        "Put the port in the Port field: Host smtp.corp.local, Port 587.")

    # The API's refusal in the page's words, on its field; the API's words kept.
    admin.fill_general(host="relay.corp.local", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    admin.field("Username").fill("svc")
    admin.field("Password").fill("x" * MAX_SECRET_LENGTH)
    admin.field("Host").fill("under_score.corp")
    admin.save()
    expect(admin.error_of("host")).to_contain_text("Host has an invalid label 'under_score'")
    expect(admin.form_error).to_have_text("Not saved: correct the marked field.")
    admin.field("Host").fill("relay.corp.local")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")

    limits = {"host": MAX_HOST_LENGTH, "sender-name": MAX_NAME_LENGTH,
              "sender-account": MAX_ADDRESS, "relay-username": MAX_USERNAME_LENGTH,
              "relay-password": MAX_SECRET_LENGTH, "client-id": MAX_CLIENT_ID_LENGTH,
              "client-secret": MAX_SECRET_LENGTH, "token-endpoint": MAX_TOKEN_ENDPOINT_LENGTH,
              "scope": MAX_SCOPE_LENGTH, "audience": MAX_AUDIENCE_LENGTH,
              "test-recipient": MAX_ADDRESS, "port": 5}
    shown = page.evaluate("""(ids) => Object.fromEntries(ids.map(
        (id) => [id, document.getElementById(id).maxLength]))""", list(limits))
    assert shown == limits
    assert page.evaluate("() => [SmtpMessages.seconds(1), SmtpMessages.seconds(2)]") == [
        "1 second", "2 seconds"]
    # The API's jargon in the page's words (what appears next to a field or at the top).
    words = page.evaluate("""() => SmtpMessages.translate("ClientSecret must be re-entered "
        + "because TokenEndpoint changed; RelayAuthenticationType 0 keeps no RelayUsername; "
        + "UseSSL is required; see SMTP_PROFILE_CA_BUNDLE")""")
    assert words == ("Client Secret must be re-entered because Token Endpoint changed; "
                     '"Anonymous" keeps no Username; Encryption is required; see the CA '
                     "certificates this service trusts (an operator setting)")


def test_too_many_requests_and_an_unreachable_service_are_told_apart_once(
        page: Page, tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    running = start_service(service_settings(tmp_path / "limited", ca_bundle,
                                             tests_per_minute=1), resolver)
    try:
        admin = signed_in(page, running)
        admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="PKI",
                           sender="pki@corp.local")
        result = run_test(admin)
        expect(result.get_by_role("heading")).to_have_text(f"Test e-mail sent to {RECIPIENT}")
        admin.button("Send test e-mail").click()
        expect(result.get_by_role("heading")).to_have_text("The test could not run")
        expect(result).to_contain_text(re.compile(
            r"Too many requests\. Try again in (1 second|[0-9]+ seconds)\."))
        assert page.locator("body").inner_text().count("Too many requests") == 1
        expect(admin.form_error).to_be_empty()
    finally:
        running.stop()
    admin.save()
    expect(admin.form_error).to_contain_text("The service cannot be reached.")
    assert page.locator("body").inner_text().count("cannot be reached") == 1
    expect(admin.form_error).not_to_contain_text("Too many requests")


# ---- items 3 and 9: the Last test line -----------------------------------------------------

def test_the_last_test_line_follows_save_and_a_save_that_changes_nothing(
        page: Page, service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    admin = signed_in(page, service)
    admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="PKI",
                       sender="pki@corp.local")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    last = page.locator("#last-test")
    expect(last).to_have_text("The saved settings have not been tested yet.")
    run_test(admin)
    expect(last).to_contain_text("by admin, passed.")
    version = stored_version(service)
    admin.save()
    expect(admin.status).to_have_text("Nothing to save: these are the saved settings.")
    expect(last).not_to_contain_text("changed since")
    assert stored_version(service) == version
    admin.field("Sender Name").fill("PKI Team")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    expect(admin.button("Save")).to_be_focused()  # kept, not dropped to <body>
    expect(last).to_contain_text("The settings have changed since.")  # without a reload


def stored_version(service: RunningService) -> int:
    with service.client(version=2) as client:
        version: int = client.get("/KeyfactorAPI/SMTP/Status").json()["ProfileVersion"]
    return version


# ---- item 7: accessibility ---------------------------------------------------------------

SERIOUS = ("serious", "critical")
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                               "wcag22aa", "best-practice"]}}


def axe_findings(page: Page) -> list[str]:
    """Serious and critical findings of axe-core on the page as it is now."""
    results = Axe().run(page, options=WCAG)
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in SERIOUS]


def contrast(page: Page, first: str, second: str) -> float:
    ratio: float = page.evaluate("""([a, b]) => {
        const rgb = (c) => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
        const lum = (c) => {
            const [r, g, b] = rgb(c).map((v) => { v /= 255;
                return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
        return (x + 0.05) / (y + 0.05);
    }""", [first, second])
    return ratio


def focus_ring(page: Page) -> tuple[str, str]:
    """The focused element's outline colour and the background colour around it."""
    colours: list[str] = page.evaluate("""() => {
        const el = document.activeElement;
        let around = el.parentElement;
        let bg = 'rgba(0, 0, 0, 0)';
        while (around && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) {
            bg = getComputedStyle(around).backgroundColor;
            around = around.parentElement;
        }
        return [getComputedStyle(el).outlineColor, bg];
    }""")
    return colours[0], colours[1]


def test_keyboard_only_with_no_serious_accessibility_findings(
        page: Page, service: RunningService, smtp_server: Callable[..., SmtpServer],
        browser: Browser) -> None:
    relay = smtp_server(behaviour=Behaviour(reject_rcpt="550 5.1.1 No such mailbox here"))
    admin = AdminPage(page, service).open()
    expect(admin.sign_in_form).to_be_visible()
    assert axe_findings(page) == []
    # Live regions are in the page before anything is put in them.
    for region in ("#sign-in-error", "#sign-in-status", "#form-error", "#form-status",
                   "#last-test", "#test-live", "#copy-status"):
        assert page.locator(region).get_attribute("hidden") is None, region
    admin.sign_in()  # types, Tab, types, Enter

    # Keyboard only: the fields in order, the encryption by arrow keys, Save by Enter.
    page.keyboard.press("Tab")  # from <main>: the provider preset, first in the form
    assert page.evaluate("() => document.activeElement.id") == "preset"
    page.keyboard.press("Tab")  # its Fill button (nothing chosen: it says so, fills nothing)
    assert page.evaluate("() => document.activeElement.id") == "preset-apply"
    page.keyboard.press("Tab")  # on to the first field
    for text in ("127.0.0.1", None, "PKI", "pki@corp.local"):
        focused = page.evaluate("() => document.activeElement.id")
        if text is not None:
            page.keyboard.press("Control+A")
            page.keyboard.type(text)
        else:
            assert focused == "port"
            page.keyboard.press("Control+A")
            page.keyboard.type(str(relay.port))
        page.keyboard.press("Tab")
    expect(page.locator("#tls-none")).to_be_focused()
    ring, around = focus_ring(page)
    assert contrast(page, ring, around) >= 3, (ring, around)
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tls-starttls")).to_be_checked()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tls-none")).to_be_checked()
    page.keyboard.press("Tab")
    expect(admin.field("Relay authentication")).to_be_focused()
    page.keyboard.press("Tab")
    expect(admin.button("Save")).to_be_focused()
    ring, around = focus_ring(page)
    assert contrast(page, ring, around) >= 3, (ring, around)
    page.keyboard.press("Enter")
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    expect(admin.button("Save")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    recipient = page.get_by_label("Recipient", exact=True)
    expect(recipient).to_be_focused()
    page.keyboard.type("nobody@corp.local")
    page.keyboard.press("Enter")
    result = page.locator("#test-result")
    expect(result.get_by_role("heading")).to_have_text("Test failed at step RCPT TO",
                                                       timeout=60_000)
    expect(result).to_be_focused()
    expect(result.locator("tr.step-failed th")).to_have_text("RCPT TO")
    result.locator("details").first.locator("summary").click()
    assert axe_findings(page) == []

    # A reader: the settings as text, no control that cannot be used, nothing faint.
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        reader = context.new_page()
        view = AdminPage(reader, service).open()
        expect(view.sign_in_form).to_be_visible()
        view.sign_in_form.get_by_label("User name").fill("reader")
        view.sign_in_form.get_by_label("Password").fill("reader-password")
        reader.keyboard.press("Enter")
        listing = reader.locator("#read-only-list")
        expect(listing).to_contain_text("127.0.0.1")
        expect(listing).to_contain_text("Encryption")
        assert reader.locator("input:visible, select:visible").count() == 0
        assert reader.locator(":disabled").count() == 0
        assert axe_findings(reader) == []
    finally:
        context.close()
