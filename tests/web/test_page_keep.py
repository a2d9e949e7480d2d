"""The page keeps the user's work (issue 16, items 1, 4, 6 and 8), in headless Chromium.

Sessions that end are real: a short session on a service whose session clock the test
moves, with the browser's clock moved in step (Playwright's clock), so nothing waits.
The service that is stopped for the sign-out test is really stopped and started again on
the same port and database.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import update

from smtp_profile.store.sessions import SessionRepository
from smtp_profile.store.tables import web_sessions
from smtp_profile.usecases.web_sessions import WebSessions
from tests.support.service import (
    FrozenClock,
    RunningService,
    add_user,
    run_async,
    service_settings,
    start_service,
)
from tests.support.smtp import Behaviour, SmtpServer
from tests.web.admin_page import AdminPage
from tests.web.test_browser import RECIPIENT, put, stored

COOKIE = "smtp_profile_session"
GENERAL = {"Host": "relay.corp.local", "Port": 25, "UseSSL": False,
           "SenderAccount": "pki@corp.local", "SenderName": "PKI"}
OAUTH = {**GENERAL, "Host": "smtp.office365.com", "Port": 587, "UseSSL": True,
         "RelayAuthenticationType": 3,
         "ClientId": {"SecretValue": "client-0001"},
         "ClientSecret": {"SecretValue": "oauth-client-secret-canary"},
         "TokenEndpoint": "https://login.example.test/tenant/oauth2/v2.0/token",
         "Scope": "https://outlook.office365.com/.default"}


def signed_in(page: Page, service: RunningService) -> AdminPage:
    return AdminPage(page, service).open().sign_in()


def expire_sessions(service: RunningService) -> None:
    """End every session on the server, as time would."""

    async def expire() -> None:
        async with service.runtime.engine.begin() as connection:
            await connection.execute(update(web_sessions).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    run_async(expire())


def browser_storage(page: Page) -> str:
    return str(page.evaluate("() => JSON.stringify([localStorage, sessionStorage])"))


# ---- 1. no lost work ------------------------------------------------------------------

def test_leaving_with_unsaved_changes_asks_first(page: Page, service: RunningService) -> None:
    admin = signed_in(page, service)
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", dismiss)
    admin.field("Host").fill("relay.corp.local")
    # The API reference link (and reload, close: the same beforeunload): asked, stays.
    page.get_by_role("link", name="API reference").click()
    expect(admin.field("Host")).to_have_value("relay.corp.local")
    assert dialogs == ["beforeunload"]
    page.close(run_before_unload=True)
    expect(admin.field("Host")).to_have_value("relay.corp.local")
    assert dialogs == ["beforeunload", "beforeunload"]
    # Sign out: asked in the page; dismissed, still signed in with the edit.
    admin.button("Sign out").click()
    assert dialogs[-1] == "confirm"
    expect(admin.field("Host")).to_have_value("relay.corp.local")
    expect(admin.button("Sign out")).to_be_visible()
    # Once saved, nothing is asked and the link leaves.
    admin.fill_general(host="relay.corp.local", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    page.get_by_role("link", name="API reference").click()
    page.wait_for_url("**/Documentation")
    assert dialogs == ["beforeunload", "beforeunload", "confirm"]


@pytest.fixture
def short_sessions(service: RunningService) -> FrozenClock:
    """Sessions of two minutes, four at most, on a clock the test moves."""
    clock = FrozenClock()
    service.runtime.sessions = WebSessions(
        SessionRepository(service.runtime.engine), timedelta(minutes=2),
        lambda: datetime.fromtimestamp(clock.now, UTC), maximum=timedelta(minutes=4))
    return clock


def test_a_session_slides_while_used_warns_and_ends_without_losing_the_form(
        page: Page, service: RunningService, short_sessions: FrozenClock) -> None:
    page.clock.install(time=short_sessions.now)

    def later(seconds: int) -> None:
        short_sessions.now += seconds
        page.clock.run_for(seconds * 1000)

    admin = signed_in(page, service)
    warning = page.locator("#session-warning")
    admin.field("Host").fill("typed.corp.local")
    # Working on the page: one minute on, the page extends the session, no warning.
    with page.expect_response(lambda r: r.url.endswith("/web/session")) as extended:
        later(61)
    assert extended.value.json()["ExpiresInSeconds"] == 120
    expect(page.locator("#session-stay")).to_be_hidden()
    expect(warning).to_be_hidden()
    # Idle: a minute before the end the page warns, without taking the focus.
    later(61)
    expect(warning).to_contain_text("Your sign-in ends at")
    expect(warning).to_contain_text("because nothing has been done on this page")
    expect(admin.field("Host")).to_be_focused()
    with page.expect_response(lambda r: r.url.endswith("/web/session")):
        admin.button("Stay signed in").click()
    expect(warning).to_be_hidden()
    # Extended up to the maximum (four minutes from sign-in): it says it cannot go on.
    later(60)
    expect(warning).to_contain_text("reaches its longest allowed time")
    expect(admin.button("Stay signed in")).to_be_hidden()
    # The end: the sign-in form, in place; the form kept, hidden.
    later(60)
    expect(admin.sign_in_form).to_be_visible()
    expect(page.locator("#sign-in-status")).to_contain_text("Your session has ended.")
    expect(page.locator("#sign-in-status")).to_contain_text("what you typed stays")
    expect(admin.sign_in_form.get_by_label("User name")).to_have_value("admin")
    expect(admin.sign_in_form.get_by_label("Password")).to_be_focused()
    admin.sign_in()
    expect(admin.field("Host")).to_have_value("typed.corp.local")
    expect(admin.status).to_contain_text("Signed in again. Your changes are still in the form")
    expect(warning).to_be_hidden()


def test_sign_in_after_an_interrupted_save_or_test_keeps_the_typed_password(
        page: Page, service: RunningService,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(users={"svc_mail": "Typed-Pa55-canary"}))
    admin = signed_in(page, service)
    admin.fill_general(host="127.0.0.1", port=relay.port, sender_name="PKI",
                       sender="svc_mail@corp.local")
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    admin.field("Username").fill("svc_mail")
    admin.field("Password").fill("Typed-Pa55-canary")
    expire_sessions(service)
    admin.save()  # the failure: the session has ended
    expect(page.locator("#sign-in-status")).to_contain_text("Nothing was saved.")
    assert stored(service)["Host"] is None
    assert "Typed-Pa55-canary" not in browser_storage(page)
    admin.sign_in()
    expect(admin.field("Password")).to_have_value("Typed-Pa55-canary")
    expect(admin.button("Save")).to_be_focused()
    page.keyboard.press("Enter")  # the success: repeated with what was typed
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    assert service.runtime_password() == "Typed-Pa55-canary"

    # The same for a test with a new password typed.
    admin.button("Change password").click()
    admin.field("Password").fill("Typed-Pa55-canary")
    admin.button("Test").click()
    page.get_by_label("Recipient", exact=True).fill(RECIPIENT)
    expire_sessions(service)
    admin.button("Send test e-mail").click()
    expect(page.locator("#sign-in-status")).to_contain_text("The test did not run.")
    admin.sign_in()
    expect(admin.button("Send test e-mail")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#test-result")).to_contain_text(f"Test e-mail sent to {RECIPIENT}")
    assert relay.received[0].login == "svc_mail"
    assert "Typed-Pa55-canary" not in browser_storage(page)


def test_a_conflict_shows_both_versions_and_keeps_mine_or_takes_theirs(
        page: Page, service: RunningService) -> None:
    put(service, GENERAL).raise_for_status()
    admin = signed_in(page, service)
    admin.field("Sender Name").fill("PKI Team")  # mine
    put(service, {**GENERAL, "Host": "relay2.corp.local"}).raise_for_status()  # theirs
    admin.save()
    conflict = page.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(page.locator("#conflict-title")).to_be_focused()
    host_row = conflict.locator("tr", has_text="Host")
    expect(host_row).to_contain_text("relay.corp.local")
    expect(host_row).to_contain_text("relay2.corp.local")
    expect(page.locator("#conflict-summary")).to_contain_text("They changed Host.")
    assert stored(service)["SenderName"] == "PKI"
    admin.button("Keep my changes").click()
    expect(conflict).to_be_hidden()
    expect(admin.field("Host")).to_have_value("relay2.corp.local")  # theirs, re-based
    expect(admin.field("Sender Name")).to_have_value("PKI Team")  # mine
    expect(admin.button("Save")).to_be_focused()
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    assert (stored(service)["Host"], stored(service)["SenderName"]) == (
        "relay2.corp.local", "PKI Team")

    admin.field("Sender Name").fill("Mine again")
    put(service, {**GENERAL, "Host": "relay3.corp.local", "SenderName": "Theirs"}
        ).raise_for_status()
    admin.save()
    expect(conflict).to_be_visible()
    expect(page.locator("#conflict-summary")).to_contain_text("You changed Sender Name too")
    admin.button("Use the saved version").click()
    expect(admin.field("Host")).to_have_value("relay3.corp.local")
    expect(admin.field("Sender Name")).to_have_value("Theirs")
    admin.save()  # nothing of mine left: the form is the saved version, nothing to send
    expect(admin.status).to_have_text("Nothing to save: these are the saved settings.")
    admin.field("Sender Name").fill("After the conflict")  # the page's version is current
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")


# ---- 4. secrets alike -----------------------------------------------------------------

def test_the_client_secret_is_kept_changed_and_asked_for_like_the_password(
        page: Page, service: RunningService) -> None:
    put(service, OAUTH).raise_for_status()
    admin = signed_in(page, service)
    secret = admin.field("Client Secret")
    hint = page.locator("#client-secret-hint")
    expect(admin.settings.get_by_text("A client secret is stored.")).to_be_visible()
    expect(secret).to_be_hidden()
    admin.button("Change client secret").click()
    expect(secret).to_be_focused()
    admin.button("Keep the stored client secret").click()
    expect(secret).to_be_hidden()
    for label, value, named in (("Token Endpoint", "https://login.example.test/other/token",
                                 "Token Endpoint changed"),
                                ("Client ID", "client-0002", "Client ID changed"),
                                ("Port", "465", "Port changed")):
        original = admin.field(label).input_value()
        admin.field(label).fill(value)
        expect(secret).to_be_visible()
        expect(hint).to_contain_text(named)
        admin.field(label).fill(original)
        expect(secret).to_be_hidden()
    admin.encryption("None")
    expect(hint).to_contain_text("Encryption changed")
    admin.encryption("STARTTLS")
    expect(secret).to_be_hidden()
    # Saving with the stored secret still works (the failure would be the server's
    # "ClientSecret must be re-entered").
    admin.field("Scope").fill("https://outlook.office365.com/.default offline_access")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")

    # Anonymous: the page says the stored credentials go, and they do.
    note = page.locator("#auth-type-note")
    expect(note).to_be_hidden()
    admin.field("Relay authentication").select_option(label="Anonymous")
    expect(note).to_have_text("The stored client ID, client secret and token settings will "
                              "be deleted when you save (Anonymous sends no credentials).")
    admin.save()
    expect(admin.status).to_have_text("Saved. The settings are in effect.")
    expect(note).to_be_hidden()
    assert service.stored_profile().client_secret is None

    # From Basic, the same note names the password.
    put(service, {**GENERAL, "RelayAuthenticationType": 2,
                  "RelayUsername": {"SecretValue": "svc"},
                  "RelayPassword": {"SecretValue": "Stored-Pa55-canary"}}).raise_for_status()
    page.reload()
    admin.wait_loaded()
    admin.field("Relay authentication").select_option(label="Anonymous")
    expect(note).to_contain_text("The stored username and password will be deleted when you "
                                 "save")
    admin.field("Relay authentication").select_option(label="Basic Authentication")
    expect(note).to_be_hidden()


# ---- 6. sign-out that signs out -------------------------------------------------------

def reusable_socket(port: int = 0) -> socket.socket:
    """A listening address that can be bound again at once after its server stops,
    though the browser still holds connections to it (they inherit SO_REUSEADDR)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[list[RunningService]]:
    """A service that can be stopped and started again on the same port and database;
    the list holds each start, and the last one running is stopped at the end."""
    running = [start_service(service_settings(tmp_path / "data"), sock=reusable_socket())]
    yield running
    running[-1].stop()


def restart(running: list[RunningService]) -> RunningService:
    """Start the stopped service again on the same port and database."""
    old = running[-1]
    port = int(old.url.rsplit(":", 1)[1])
    again = start_service(old.settings, sock=reusable_socket(port))
    running.append(again)
    return again


def sign_out_while_stopped(page: Page, running: list[RunningService]) -> str:
    """Sign in, stop the service, press Sign out: the failure. Returns the cookie."""
    admin = signed_in(page, running[-1])
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    running[-1].stop()
    admin.button("Sign out").click()
    failed = page.locator("#sign-out-failed")
    expect(failed).to_contain_text("Could not sign out: the service cannot be reached.")
    expect(page.get_by_text("You have signed out.")).to_have_count(0)
    expect(admin.settings).to_be_hidden()  # what the page showed is cleared
    expect(admin.button("Try again")).to_be_focused()
    assert any(c["name"] == COOKIE for c in page.context.cookies())
    return str(cookie["value"])


def session_status(service: RunningService, cookie: str) -> int:
    with httpx.Client(base_url=service.url, cookies={COOKIE: cookie},
                      headers={"x-keyfactor-requested-with": "XMLHttpRequest"}) as client:
        return client.get("/web/session").status_code


def test_sign_out_says_signed_out_only_when_the_server_confirmed(
        page: Page, restartable: list[RunningService]) -> None:
    admin = AdminPage(page, restartable[0])
    failed = page.locator("#sign-out-failed")
    # Try again, once the service is back.
    cookie = sign_out_while_stopped(page, restartable)
    again = restart(restartable)
    assert session_status(again, cookie) == 200  # still valid on the server
    admin.button("Try again").click()
    expect(page.locator("#sign-in-status")).to_have_text("You have signed out.")
    expect(failed).to_be_hidden()
    assert session_status(again, cookie) == 401
    assert all(c["name"] != COOKIE for c in page.context.cookies())

    # A reload after the restart finishes the sign-out; it does not resume the session.
    cookie = sign_out_while_stopped(page, restartable)
    again = restart(restartable)
    page.reload()
    expect(page.locator("#sign-in-status")).to_contain_text("You have signed out")
    expect(failed).to_be_hidden()
    expect(admin.settings).to_be_hidden()
    assert session_status(again, cookie) == 401
    assert all(c["name"] != COOKIE for c in page.context.cookies())
    page.reload()
    expect(admin.sign_in_form).to_be_visible()
    expect(page.locator("#sign-in-status")).to_be_hidden()
    admin.sign_in()  # and signing in again works


# ---- 8. first use ---------------------------------------------------------------------

def test_a_new_installation_says_mail_is_not_configured(page: Page,
                                                        service: RunningService) -> None:
    add_user(service.settings, "pat", "pat-password-12", "/system_settings/read/",
             "/system_settings/modify/")
    admin = AdminPage(page, service).open().sign_in("pat@corp.example", "pat-password-12")
    first_use = page.locator("#first-use")
    expect(first_use).to_contain_text("Mail is not configured yet")
    expect(first_use).to_contain_text("press Save, then Test")
    # The test recipient defaults to the address the user signed in with.
    admin.button("Test").click()
    expect(page.get_by_label("Recipient", exact=True)).to_have_value("pat@corp.example")
    admin.fill_general(host="relay.corp.local", port=25, sender_name="PKI",
                       sender="pki@corp.local")
    admin.save()
    expect(admin.status).to_be_visible()
    expect(first_use).to_be_hidden()
    page.reload()
    admin.wait_loaded()
    expect(first_use).to_be_hidden()
    admin.button("Test").click()  # remembered for the tab, though GET knows no address
    expect(page.get_by_label("Recipient", exact=True)).to_have_value("pat@corp.example")
    kept = json.loads(page.evaluate("() => JSON.stringify(sessionStorage)"))
    assert json.loads(kept.pop("smtp-profile.user-email")) == {
        "user": "pat", "email": "pat@corp.example"}
    assert set(kept) <= {"smtp-profile.test-recipient"}


def test_a_read_only_user_is_told_who_can_configure_mail(page: Page,
                                                         service: RunningService) -> None:
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    AdminPage(page, service).open().sign_in("reader", "reader-password")
    expect(page.locator("#first-use")).to_contain_text(
        "Mail is not configured yet: no e-mail is sent until someone with the permission")
