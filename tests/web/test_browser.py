"""The admin page in headless Chromium, against the real service and real SMTP servers.

Everything goes through the page as a person would use it (labels, buttons, keyboard);
the service and the relays are the real ones on 127.0.0.1. Where a result is checked
behind the page's back, it is through the public API with Basic auth.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import update

from smtp_profile.store.tables import web_sessions
from tests.support.service import RunningService, add_user, run_async
from tests.support.smtp import Behaviour, ScriptedServer, SmtpServer, silent
from tests.web.admin_page import AdminPage

RECIPIENT = "pki-admin@corp.local"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
SCREENSHOT_TO = "SMTP_PROFILE_SCREENSHOT"


def stored(service: RunningService) -> dict[str, Any]:
    with service.client(version=2) as client:
        response = client.get("/KeyfactorAPI/SMTP")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def put(service: RunningService, body: dict[str, Any]) -> httpx.Response:
    with service.client(version=2) as client:
        return client.put("/KeyfactorAPI/SMTP", json=body)


def admin_page(page: Page, service: RunningService) -> AdminPage:
    return AdminPage(page, service).open().sign_in()


def test_sign_in_change_host_and_sender_save_and_reload(page: Page,
                                                        service: RunningService) -> None:
    admin = AdminPage(page, service).open()
    expect(admin.sign_in_form).to_be_visible()
    expect(admin.settings).to_be_hidden()
    admin.sign_in()
    expect(page.get_by_text("Signed in as admin")).to_be_visible()
    admin.fill_general(host="relay.corp.local", port=587, sender_name="PKI Team",
                       sender="pki@corp.local", use_ssl=True)
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    profile = stored(service)
    assert (profile["Host"], profile["Port"], profile["SenderName"], profile["SenderAccount"],
            profile["UseSSL"]) == ("relay.corp.local", 587, "PKI Team", "pki@corp.local", True)

    page.reload()
    admin.wait_loaded()
    expect(admin.field("Host")).to_have_value("relay.corp.local")
    expect(admin.field("Port")).to_have_value("587")
    expect(admin.field("Sender Name")).to_have_value("PKI Team")
    expect(admin.field("Sender Account")).to_have_value("pki@corp.local")
    expect(admin.settings.get_by_role("radio", name="STARTTLS")).to_be_checked()


def test_the_page_checks_fields_before_sending(page: Page, service: RunningService) -> None:
    before = stored(service)
    admin = admin_page(page, service)
    admin.fill_general(host="", port=70000, sender_name="", sender="not-an-address")
    admin.save()
    expect(admin.form_error).to_have_text("Please correct the marked fields.")
    expect(admin.error_of("host")).to_have_text("Host is required.")
    expect(admin.error_of("port")).to_contain_text("between 1 and 65535")
    expect(admin.error_of("sender-name")).to_have_text("Sender Name is required.")
    expect(admin.error_of("sender-account")).to_contain_text("must be an e-mail address")
    expect(admin.field("Host")).to_be_focused()
    expect(admin.field("Host")).to_have_attribute("aria-invalid", "true")
    assert stored(service) == before
    admin.fill_general(host="relay.corp.local", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.save()
    expect(admin.status).to_be_visible()
    expect(admin.error_of("host")).to_be_hidden()


def test_the_servers_refusal_is_shown_next_to_the_field(page: Page,
                                                        service: RunningService) -> None:
    admin = admin_page(page, service)
    admin.fill_general(host="bad_host.corp", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.save()
    expect(admin.error_of("host")).to_contain_text("Host has an invalid label 'bad_host'")
    expect(admin.form_error).to_have_text("Not saved: correct the marked field.")
    api_message = page.locator("#api-message")
    expect(api_message).to_be_visible()
    api_message.get_by_text("Message from the API").click()
    expect(api_message).to_contain_text("Host has an invalid label 'bad_host'")
    assert stored(service)["Host"] is None


def test_the_password_is_write_only_and_kept(page: Page, service: RunningService,
                                             smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(users={"svc_mail": "Relay-Pa55-w0rd"}))
    admin = admin_page(page, service)
    admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="PKI",
                       sender="svc_mail@corp.local")
    expect(page.locator("#basic-auth")).to_be_hidden()
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    expect(page.locator("#basic-auth")).to_be_visible()
    admin.field("Username").fill("svc_mail")
    expect(admin.field("Password")).to_have_attribute("type", "password")
    admin.field("Password").fill("Relay-Pa55-w0rd")
    admin.save()
    expect(admin.status).to_be_visible()
    assert service.runtime_password() == "Relay-Pa55-w0rd"

    page.reload()
    admin.wait_loaded()
    assert "Relay-Pa55-w0rd" not in page.content()
    expect(admin.settings.get_by_text("A password is stored.")).to_be_visible()
    expect(admin.field("Password")).to_be_hidden()
    admin.button("Change password").click()
    expect(admin.field("Password")).to_be_focused()
    admin.button("Keep the stored password").click()
    expect(admin.field("Password")).to_be_hidden()

    # A test with the stored password, never typed again, reaches the relay's AUTH.
    result = admin.run_test(RECIPIENT)
    expect(result).to_contain_text(f"Test e-mail sent to {RECIPIENT}")
    assert relay.received[0].login == "svc_mail"

    # A new destination needs the password again: the page says so before sending.
    admin.field("Host").fill("localhost")
    expect(admin.field("Password")).to_be_visible()
    expect(page.locator("#relay-password-hint")).to_contain_text("Host changed")
    admin.save()
    expect(admin.error_of("relay-password")).to_contain_text("Password is required")
    assert stored(service)["Host"] == "127.0.0.1"


def test_a_test_that_succeeds_shows_the_test_id(page: Page, service: RunningService,
                                                smtp_server: Callable[..., SmtpServer]
                                                ) -> None:
    relay = smtp_server()
    admin = admin_page(page, service)
    admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="Unsaved Sender",
                       sender="unsaved@corp.local")
    result = admin.run_test(RECIPIENT)
    expect(result.get_by_role("heading")).to_have_text(f"Test e-mail sent to {RECIPIENT}")
    [received] = relay.received
    assert received.mail_from == "unsaved@corp.local"  # the form's values, not saved ones
    test_id = received.message["Message-ID"].strip("<>").split("@")[0]
    expect(result).to_contain_text(f"Test id: {test_id}")
    assert stored(service)["SenderAccount"] is None

    # The recipient is remembered for the session, across a reload.
    page.reload()
    admin.wait_loaded()
    admin.button("Test").click()
    expect(page.get_by_label("Recipient", exact=True)).to_have_value(RECIPIENT)


def test_a_failed_test_names_the_step_and_the_reply(page: Page, service: RunningService,
                                                    smtp_server: Callable[..., SmtpServer]
                                                    ) -> None:
    relay = smtp_server(behaviour=Behaviour(reject_rcpt="550 5.1.1 No such mailbox here"))
    admin = admin_page(page, service)
    admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="PKI",
                       sender="pki@corp.local")
    result = admin.run_test("nobody@corp.local")
    expect(result.get_by_role("heading")).to_have_text("Test failed at step RCPT TO")
    expect(result).to_contain_text("550 5.1.1 No such mailbox here")
    expect(result).to_contain_text("Test id: ")
    # The step-by-step report of /SMTP/Diagnose: each step with its result and timing.
    steps = result.locator("table.steps")
    expect(steps.locator("tr.step-ok")).to_have_count(5)  # resolve ... mail_from
    expect(steps.locator("tr.step-failed")).to_contain_text("RCPT TO")
    expect(steps.locator("tr.step-skipped")).to_have_count(2)  # data, quit
    expect(steps.locator("tr.step-ok").first.locator("td.num")).to_have_text(
        re.compile(r"^\d+$"))
    expect(result).to_contain_text("Hint")
    assert relay.received == []


def test_progress_shows_while_a_test_runs(page: Page, service: RunningService,
                                          scripted_server: Callable[..., ScriptedServer]
                                          ) -> None:
    mute = scripted_server(silent)  # never sends a greeting: the test waits, then fails
    admin = admin_page(page, service)
    admin.fill_general(host="127.0.0.1", port=mute.port, sender_name="PKI",
                       sender="pki@corp.local")
    admin.button("Test").click()
    page.get_by_label("Recipient", exact=True).fill(RECIPIENT)
    admin.button("Send test e-mail").click()
    progress = page.locator("#test-progress")
    expect(progress).to_be_visible()
    expect(progress).to_contain_text(f"Testing 127.0.0.1:{mute.port}")
    expect(admin.button("Send test e-mail")).to_be_disabled()
    result = page.locator("#test-result")
    expect(result.get_by_role("heading")).to_have_text("Test failed at step banner",
                                                       timeout=60_000)
    expect(progress).to_be_hidden()
    expect(admin.button("Send test e-mail")).to_be_enabled()


def test_a_read_only_user_sees_no_save_and_no_test(page: Page,
                                                    service: RunningService) -> None:
    put(service, {"Host": "relay.corp.local", "Port": 25, "SenderAccount": "pki@corp.local",
                  "SenderName": "PKI"}).raise_for_status()
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    admin = AdminPage(page, service).open()
    expect(admin.sign_in_form).to_be_visible()
    admin.sign_in_form.get_by_label("User name").fill("reader")
    admin.sign_in_form.get_by_label("Password").fill("reader-password")
    admin.button("Sign in").click()
    view = page.locator("#read-only-view")
    expect(view).to_contain_text("relay.corp.local")
    expect(page.locator("#settings-form")).to_be_hidden()
    expect(page.get_by_text("You can view these settings.")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Test")).to_have_count(0)
    expect(admin.button("Sign out")).to_be_visible()


def test_oauth_section_shows_for_its_type_and_the_servers_answer(page: Page,
                                                                service: RunningService
                                                                ) -> None:
    admin = admin_page(page, service)
    admin.fill_general(host="smtp.office365.com", port=587, sender_name="PKI",
                       sender="pki@corp.local", use_ssl=True)
    oauth = page.locator("#oauth-auth")
    expect(oauth).to_be_hidden()
    admin.field("Relay authentication").select_option(label="OAuth Client Credentials")
    expect(oauth).to_be_visible()
    expect(page.locator("#basic-auth")).to_be_hidden()
    admin.field("Client ID").fill("00000000-1111-2222-3333-444444444444")
    expect(admin.field("Client Secret")).to_have_attribute("type", "password")
    admin.field("Client Secret").fill("oauth-client-secret")
    admin.field("Token Endpoint").fill("https://login.example.test/tenant/oauth2/v2.0/token")
    admin.field("Scope").fill("https://outlook.office365.com/.default")
    admin.button("Add header").click()
    expect(admin.field("Header 1 name")).to_be_focused()
    admin.field("Header 1 name").fill("X-Example")
    admin.field("Header 1 value").fill("1")
    admin.save()
    expect(page.locator("#form-status:visible, #form-error:visible")).to_have_count(1)
    if admin.form_error.is_visible():
        # The server refused: the page must show the server's own words, nothing made up.
        answer = put(service, {
            "Host": "smtp.office365.com", "Port": 587, "UseSSL": True,
            "RelayAuthenticationType": 3, "SenderAccount": "pki@corp.local",
            "SenderName": "PKI",
            "ClientId": {"SecretValue": "00000000-1111-2222-3333-444444444444"},
            "ClientSecret": {"SecretValue": "oauth-client-secret"},
            "TokenEndpoint": "https://login.example.test/tenant/oauth2/v2.0/token",
            "Scope": "https://outlook.office365.com/.default",
            "RequestHeaders": [{"Name": "X-Example", "Value": "1"}],
        })
        assert answer.status_code == 400
        expect(admin.form_error).to_contain_text(answer.json()["Message"])
        assert stored(service)["RelayAuthenticationType"] == 0
    else:
        page.reload()
        admin.wait_loaded()
        expect(admin.settings.get_by_text("A client secret is stored.")).to_be_visible()
        assert stored(service)["RelayAuthenticationType"] == 3


def test_every_field_has_a_label_and_the_keyboard_reaches_save(page: Page,
                                                               service: RunningService
                                                               ) -> None:
    admin = admin_page(page, service)
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    unlabeled = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input, select, textarea')).filter(e => e.labels.length === 0
        && !e.getAttribute('aria-label')).map(e => e.id || e.name)""")
    assert unlabeled == []
    admin.field("Host").focus()
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.id"))
        if reached[-1] == "save":
            break
    assert reached[-1] == "save", reached
    assert reached[:5] == ["port", "sender-name", "sender-account", "tls-none", "auth-type"]
    page.keyboard.press("Tab")
    expect(admin.button("Test")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Recipient", exact=True)).to_be_focused()


def no_horizontal_scroll(page: Page) -> bool:
    result: bool = page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth")
    return result


def test_readable_at_1280x800_and_on_a_narrow_window(page: Page,
                                                     service: RunningService) -> None:
    admin = admin_page(page, service)
    admin.field("Relay authentication").select_option(label="OAuth Client Credentials")
    admin.button("Add header").click()
    for size in (DESKTOP, NARROW):
        page.set_viewport_size(size)
        assert no_horizontal_scroll(page), size
        for name in ("Save", "Test", "Sign out"):
            box = admin.button(name).bounding_box()
            assert box is not None and box["x"] >= 0
            assert box["x"] + box["width"] <= size["width"], (name, size)
        host = admin.field("Host").bounding_box()
        assert host is not None and host["width"] >= 200, size


def test_sign_out_ends_the_session(page: Page, service: RunningService) -> None:
    admin = admin_page(page, service)
    cookie = next(c for c in page.context.cookies() if c["name"] == "smtp_profile_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie") == ""  # not readable by scripts
    admin.button("Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    expect(admin.sign_in_form.get_by_label("User name")).to_be_focused()
    assert all(c["name"] != "smtp_profile_session" for c in page.context.cookies())
    with httpx.Client(base_url=service.url, cookies={cookie["name"]: cookie["value"]},
                      headers={"x-keyfactor-requested-with": "XMLHttpRequest"}) as client:
        assert client.get("/KeyfactorAPI/SMTP").status_code == 401
    page.reload()
    expect(admin.sign_in_form).to_be_visible()


def test_wrong_password_and_an_ended_session(page: Page, service: RunningService) -> None:
    admin = AdminPage(page, service).open()
    admin.sign_in_form.get_by_label("User name").fill("admin")
    admin.sign_in_form.get_by_label("Password").fill("not-the-password")
    admin.button("Sign in").click()
    expect(page.locator("#sign-in-error")).to_have_text("The user name or password is wrong.")
    expect(admin.sign_in_form.get_by_label("Password")).to_be_focused()
    admin.sign_in()

    async def expire() -> None:
        async with service.runtime.engine.begin() as connection:
            await connection.execute(update(web_sessions).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    run_async(expire())
    admin.fill_general(host="relay.corp.local", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.save()
    expect(page.get_by_text("Your session has ended. Nothing was saved.")).to_be_visible()
    expect(admin.sign_in_form).to_be_visible()
    assert stored(service)["Host"] is None


def test_screenshot_of_the_page(page: Page, service: RunningService, tmp_path: Path,
                                smtp_server: Callable[..., SmtpServer]) -> None:
    """The README's picture, taken by this browser: a Basic profile over STARTTLS and a
    passed test.

    With SMTP_PROFILE_SCREENSHOT=path (scripts/screenshot sets it) it is kept there.
    """
    relay = smtp_server("starttls", Behaviour(users={"svc_mail": "Relay-Pa55-w0rd"}))
    admin = admin_page(page, service)
    admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="Keyfactor Command",
                       sender="svc_mail@corp.local", use_ssl=True)
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    admin.field("Username").fill("svc_mail")
    admin.field("Password").fill("Relay-Pa55-w0rd")
    admin.save()
    expect(admin.status).to_be_visible()
    result = admin.run_test(RECIPIENT)
    expect(result.get_by_role("heading")).to_have_text(f"Test e-mail sent to {RECIPIENT}")
    expect(page.locator("#test-progress")).to_be_hidden()
    expect(page.locator("#last-test")).to_contain_text("by admin, passed.")
    page.locator("#test-recipient").blur()
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1280
    target = os.environ.get(SCREENSHOT_TO)
    if target:
        shutil.copyfile(shot, target)
    # The report on a phone (390 px): the README's second picture, beside the first.
    page.set_viewport_size(NARROW)
    phone = tmp_path / "screenshot-phone.png"
    page.locator("#test-panel").screenshot(path=str(phone))
    assert phone.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target:
        shutil.copyfile(phone, Path(target).with_name("screenshot-phone.png"))


def test_insecure_trust_and_the_last_test_are_shown(page: Page, service: RunningService,
                                                    smtp_server: Callable[..., SmtpServer]
                                                    ) -> None:
    relay = smtp_server()
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            "Host": "127.0.0.1", "Port": relay.port, "SenderAccount": "pki@corp.local",
            "SenderName": "PKI"}).raise_for_status()
        client.put("/KeyfactorAPI/SMTP/Options", json={"Insecure": True}).raise_for_status()
    admin = admin_page(page, service)
    expect(page.locator("#insecure-warning")).to_be_visible()
    expect(page.locator("#insecure-warning")).to_contain_text("verification is switched off")
    expect(page.locator("#last-test")).to_have_text(
        "The saved settings have not been tested yet.")
    admin.run_test(RECIPIENT)
    expect(page.locator("#last-test")).to_contain_text("by admin, passed.")
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP/Options", json={}).raise_for_status()
    page.reload()
    admin.wait_loaded()
    expect(page.locator("#insecure-warning")).to_be_hidden()
