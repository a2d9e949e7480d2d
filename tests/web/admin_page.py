"""The admin page as a person uses it: labels, buttons and messages, found by what they say."""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, expect

from tests.support.service import RunningService


@dataclass
class AdminPage:
    page: Page
    service: RunningService

    def open(self) -> AdminPage:
        self.page.goto(self.service.url + "/")
        return self

    @property
    def sign_in_form(self) -> Locator:
        return self.page.locator("#sign-in-view")

    @property
    def settings(self) -> Locator:
        return self.page.locator("#settings-view")

    def field(self, label: str) -> Locator:
        return self.settings.get_by_label(label, exact=True)

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def sign_in(self, user: str = "admin", password: str | None = None) -> AdminPage:
        """Sign in with the keyboard only: type, Tab, type, Enter."""
        expect(self.sign_in_form).to_be_visible()
        self.sign_in_form.get_by_label("User name").focus()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(user)
        self.page.keyboard.press("Tab")
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(password or self.service.admin_password)
        self.page.keyboard.press("Enter")
        self.wait_loaded()
        return self

    def wait_loaded(self) -> None:
        expect(self.page.get_by_role("heading", name="SMTP Configuration")).to_be_visible()
        expect(self.field("Port")).not_to_have_value("")

    def fill_general(self, *, host: str, port: int, sender_name: str, sender: str,
                     use_ssl: bool = False) -> None:
        """`use_ssl`: STARTTLS (TLS from the first byte on an implicit-TLS port)."""
        self.field("Host").fill(host)
        self.field("Sender Name").fill(sender_name)
        self.field("Sender Account").fill(sender)
        self.encryption("STARTTLS" if use_ssl else "None")
        self.field("Port").fill(str(port))  # after the choice, which may suggest a port

    def encryption(self, choice: str) -> None:
        """None, STARTTLS or TLS from the first byte."""
        self.settings.get_by_role("radio", name=re.compile("^" + re.escape(choice))).check()

    def save(self) -> None:
        self.button("Save").click()

    def run_test(self, recipient: str) -> Locator:
        """Open the test panel, send to `recipient`, and return the result box."""
        self.button("Test").click()
        recipient_field = self.page.get_by_label("Recipient", exact=True)
        expect(recipient_field).to_be_focused()
        recipient_field.fill(recipient)
        self.button("Send test e-mail").click()
        result = self.page.locator("#test-result")
        expect(result).to_be_visible(timeout=60_000)
        return result

    @property
    def status(self) -> Locator:
        return self.page.locator("#form-status")

    @property
    def form_error(self) -> Locator:
        return self.page.locator("#form-error")

    def error_of(self, input_id: str) -> Locator:
        return self.page.locator(f"#{input_id}-error")
