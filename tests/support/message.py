"""What the relay must receive for a test message: exactly these headers, each once, with
these decoded values, and the plain-text body; nothing a field value could add."""

from __future__ import annotations

import re
from email import message_from_string, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

from smtp_profile.mailer.message import wire_address

HEADER_NAMES = ["From", "To", "Date", "Message-ID", "Subject", "X-SMTP-Profile-Test-Id",
                "X-Mailer", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]


def unquoted(local: str) -> str:
    """A local part as readers report it: quotes and backslash escapes removed."""
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        return re.sub(r"\\(.)", r"\1", local[1:-1], flags=re.DOTALL)
    return local


def parse(data: bytes) -> EmailMessage:
    """Parse as a reader would; headers may be raw UTF-8 (RFC 6532) under SMTPUTF8."""
    parsed = message_from_string(data.decode("utf-8"), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def header_lines(data: bytes) -> list[str]:
    """The header fields of the raw message, continuation lines joined to their field."""
    head = data.decode("utf-8").split("\r\n\r\n", 1)[0]
    assert "\n" not in head.replace("\r\n", ""), "a bare CR or LF in the header section"
    fields: list[str] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def assert_exact_message(data: bytes, *, sender_name: str, sender: str, recipient: str,
                         test_id: str) -> EmailMessage:
    """The raw message has exactly the expected fields and decoded values, and one body.

    The display name is decoded twice: by RFC 2047's rules (`email.header`), which must
    give it back exactly, and by the modern parser, which must give it back up to
    whitespace (it adds or drops spaces around encoded-words, against RFC 2047).
    """
    fields = header_lines(data)
    assert [field.split(":", 1)[0] for field in fields] == HEADER_NAMES
    phrase = fields[0].removeprefix("From: ").partition(" <")[0]
    assert str(make_header(decode_header(phrase))) == sender_name
    message = parse(data)
    assert list(message.keys()) == HEADER_NAMES
    wire_sender, _ = wire_address(sender)
    wire_recipient, _ = wire_address(recipient)
    [from_] = message["From"].addresses
    assert "".join(from_.display_name.split()) == "".join(sender_name.split())
    assert (from_.username, from_.domain) == (unquoted(wire_sender.rpartition("@")[0]),
                                              wire_sender.rpartition("@")[2])
    [to] = message["To"].addresses
    assert to.display_name == ""
    assert (to.username, to.domain) == (unquoted(wire_recipient.rpartition("@")[0]),
                                        wire_recipient.rpartition("@")[2])
    assert message["Subject"] == f"SMTP profile test {test_id}"
    assert message["X-SMTP-Profile-Test-Id"] == test_id
    assert message["Message-ID"] == f"<{test_id}@{wire_sender.rpartition('@')[2]}>"
    assert message["X-Mailer"] == "smtp-profile"
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("This is a test message from the SMTP profile")
    assert f"Test id:   {test_id}\n" in body
    assert body.endswith("If you received it, the relay settings work. No action is needed.\n")
    assert body.count("\n") == 8
    return message
