"""Header and body injection into the test message, through the real service and a real relay.

The attack (issue 12, item 1): an RFC 2047 encoded-word whose decoded text holds CR LF, in
SenderName or in a local part of SenderAccount or TestRecipient, was decoded by Python's
`email` package and written raw, so the relay received a Bcc:, an X-Injected:, a new
Subject and an HTML body. Each case below is refused with a 400 on Test, Diagnose and PUT
(and for a profile an older version stored, on Diagnose of the stored profile), the relay
receives nothing, and a test on the same running instance then delivers exactly the
expected message: one MAIL, one RCPT, the expected headers each once, one text body.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from smtp_profile.domain.profile import AuthType, Profile
from smtp_profile.mailer.message import wire_address
from smtp_profile.runtime import Runtime
from tests.api.test_smtp_routes import error
from tests.support.message import assert_exact_message, unquoted
from tests.support.service import RunningService, run_async
from tests.support.smtp import Behaviour, RecordingHandler, SmtpServer

RECIPIENT = "pki@corp.local"
SENDER = "noreply@corp.local"
# What the attacker wants the relay to see: new header lines, then a body of their own.
INJECTED = ("IT Security\r\nBcc: victim@evil.example\r\nX-Injected: yes\r\n"
            "Subject: Urgent: reset your password\r\nContent-Type: text/html\r\n\r\n"
            '<a href="https://evil.example/reset">Reset</a>\r\n')
# Short enough for a 64-byte local part.
SHORT = "\r\nBcc: v@evil.example\r\n"


def b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


ATTACKS = {
    "name-b": ("SenderName", b_word(INJECTED)),
    "name-q": ("SenderName", "=?iso-8859-1?q?IT=0D=0ABcc:=20victim@evil.example?="),
    "name-q-in-text": ("SenderName", 'IT "=?utf-8?Q?x=0AX-Injected:_yes?=" Security'),
    "sender-quoted": ("SenderAccount", f'"{b_word(SHORT)}"@corp.local'),
    "sender-bare": ("SenderAccount", f"{b_word(SHORT)}@corp.local"),
    "recipient-quoted": ("TestRecipient", f'"{b_word(SHORT)}"@corp.local'),
    "recipient-bare": ("TestRecipient", f"{b_word(SHORT)}@corp.local"),
    # Unterminated: Python's parser decodes a Q word through to the end of the field.
    "recipient-unterminated": ("TestRecipient", "=?utf-8?q?=0D=0A" + "".join(
        f"={b:02X}" for b in b"Bcc: v@evil") + "@corp.local"),
}

# Values that look hostile but are only text: they must arrive exactly as written.
HARMLESS = [
    ('=?utf-8?q?Literal?= "Doe, John" <ceo@evil.example>', SENDER, RECIPIENT),
    ("Zoë Ünïcode 例え", '"quoted, with @ and <>"@corp.local', "üser@bücher.example"),
    ("Bcc: victim@evil.example", "it@xn--bcher-kva.example", '"x\\"y"@corp.local'),
    ("  two  spaces ", SENDER, "=?utf-8?x?AAAA?=@corp.local"),
]


class CountingHandler(RecordingHandler):
    """Records every MAIL and RCPT command, accepted or not, in order."""

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(behaviour)
        self.commands: list[str] = []

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        self.commands.append(f"MAIL {address}")
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.commands.append(f"RCPT {address}")
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


    def envelope(self) -> list[str]:
        """The commands with each mailbox as its parts (aiosmtpd drops needless quotes)."""
        return [f"{verb} {mailbox_parts(address)}"
                for verb, address in (command.split(" ", 1) for command in self.commands)]


def mailbox_parts(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return unquoted(local), domain


def expected_envelope(sender: str, recipient: str) -> list[str]:
    """Exactly one MAIL and one RCPT, for the wire forms of the two addresses."""
    return [f"MAIL {mailbox_parts(wire_address(sender)[0])}",
            f"RCPT {mailbox_parts(wire_address(recipient)[0])}"]


def counting_relay(smtp_server: Callable[..., SmtpServer]) -> tuple[SmtpServer, CountingHandler]:
    relay = smtp_server()
    handler = CountingHandler(relay.behaviour)
    relay.handler = handler  # each new connection is served by the handler set here
    return relay, handler


def body(port: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"Host": "127.0.0.1", "Port": port, "RelayAuthenticationType": 0,
                              "SenderAccount": SENDER, "SenderName": "Keyfactor Command",
                              "UseSSL": False, "TestRecipient": RECIPIENT}
    values.update(overrides)
    return values


def assert_delivered_once(relay: SmtpServer, handler: CountingHandler, test_id: str, *,
                          name: str, sender: str, recipient: str) -> None:
    [received] = relay.received
    assert handler.envelope() == expected_envelope(sender, recipient)
    assert_exact_message(received.data, sender_name=name, sender=sender, recipient=recipient,
                         test_id=test_id)


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
@pytest.mark.parametrize("route", ["Test", "Diagnose"])
def test_encoded_words_hiding_line_breaks_are_refused(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        route: str, attack: str) -> None:
    relay, handler = counting_relay(smtp_server)
    field, value = ATTACKS[attack]
    with service.client() as client:
        refused = client.post(f"/KeyfactorAPI/SMTP/{route}",
                              json=body(relay.port, **{field: value}))
        assert field in error(refused, 400, "0xA0110001")
        assert relay.received == [] and handler.commands == []
        # The same instance then sends a test, and it arrives exactly as built.
        ok = client.post(f"/KeyfactorAPI/SMTP/{route}", json=body(relay.port))
    assert ok.status_code == 200, ok.text
    assert_delivered_once(relay, handler, ok.headers["x-test-id"], name="Keyfactor Command",
                          sender=SENDER, recipient=RECIPIENT)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if ATTACKS[a][0] != "TestRecipient"])
def test_a_stored_profile_cannot_carry_the_attack(
        service: RunningService, smtp_server: Callable[..., SmtpServer], attack: str) -> None:
    relay, handler = counting_relay(smtp_server)
    field, value = ATTACKS[attack]
    profile = {k: v for k, v in body(relay.port).items() if k != "TestRecipient"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=profile).raise_for_status()
        before = client.get("/KeyfactorAPI/SMTP").json()
        refused = client.put("/KeyfactorAPI/SMTP", json={**profile, field: value})
        assert field in error(refused, 400, "0xA0110001")
        assert client.get("/KeyfactorAPI/SMTP").json() == before
        diagnosed = client.post("/KeyfactorAPI/SMTP/Diagnose",
                                json={"TestRecipient": RECIPIENT})
    assert diagnosed.json()["Success"] is True, diagnosed.text
    assert_delivered_once(relay, handler, diagnosed.headers["x-test-id"],
                          name="Keyfactor Command", sender=SENDER, recipient=RECIPIENT)


def store_unvalidated(service: RunningService, profile: Profile) -> None:
    """Write `profile` as an older version of the service could have stored it."""

    async def write() -> None:
        runtime = Runtime.open(service.settings)
        try:
            await runtime.profiles.replace(lambda _current: profile, actor="older-version")
        finally:
            await runtime.close()

    run_async(write())


@pytest.mark.parametrize("attack", [a for a in ATTACKS if ATTACKS[a][0] != "TestRecipient"])
def test_a_profile_stored_before_the_fix_is_refused_not_sent(
        service: RunningService, smtp_server: Callable[..., SmtpServer], attack: str) -> None:
    relay, handler = counting_relay(smtp_server)
    field, value = ATTACKS[attack]
    clean = Profile(host="127.0.0.1", port=relay.port, auth_type=AuthType.ANONYMOUS,
                    sender_account=SENDER, sender_name="Keyfactor Command")
    attribute = {"SenderName": "sender_name", "SenderAccount": "sender_account"}[field]
    store_unvalidated(service, Profile(**{**clean.__dict__, attribute: value}))
    with service.client() as client:
        refused = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"TestRecipient": RECIPIENT})
        assert f"The stored {field}" in error(refused, 400, "0xA0110001")
        assert relay.received == [] and handler.commands == []
        store_unvalidated(service, clean)
        diagnosed = client.post("/KeyfactorAPI/SMTP/Diagnose",
                                json={"TestRecipient": RECIPIENT})
    assert diagnosed.json()["Success"] is True, diagnosed.text
    assert_delivered_once(relay, handler, diagnosed.headers["x-test-id"],
                          name="Keyfactor Command", sender=SENDER, recipient=RECIPIENT)


@pytest.mark.parametrize(("name", "sender", "recipient"), HARMLESS)
def test_hostile_looking_text_arrives_as_written(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        name: str, sender: str, recipient: str) -> None:
    relay, handler = counting_relay(smtp_server)
    with service.client() as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=body(
            relay.port, SenderName=name, SenderAccount=sender, TestRecipient=recipient))
    assert response.status_code == 200, response.text
    assert_delivered_once(relay, handler, response.headers["x-test-id"], name=name,
                          sender=sender, recipient=recipient)
