"""The test message: well-formed, traceable by its test id, and impossible to rewrite.

The header section is written here, field by field, instead of being handed to the
`email` package's modern API: that API parses every value it is given, decodes RFC 2047
encoded-words (even inside addresses and quoted strings) and folds the decoded text back
out raw, so a SenderName `=?utf-8?b?...?=` hiding CR LF became header lines of its own.
Here a display name is literal text, encoded anew with `email.charset` when it is not a
plain phrase; addresses are written as validated; the test id must be a plain token; and
every field body is checked to be one logical line before the message is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.charset import Charset
from email.utils import format_datetime

import idna

from smtp_profile.domain.addresses import ascii_host, has_control_chars, has_encoded_word
from smtp_profile.domain.profile import Profile, TlsMode

USER_AGENT = "smtp-profile"
CRLF = "\r\n"
# A display name written as it is: RFC 5322 atoms separated by single spaces, with no
# "=?" that a reader could take for the start of an encoded-word.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# The test id goes into Subject, Message-ID and the body: letters, digits, dot, hyphen.
_TEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,63}")
# RFC 2047 section 2: an encoded-word is at most 75 characters long.
_MAX_ENCODED_WORD = 75
_UTF8 = Charset("utf-8")


@dataclass(frozen=True)
class Envelope:
    """Addresses as they go on the wire, and whether the relay must speak SMTPUTF8."""

    sender: str
    recipient: str
    smtputf8: bool


@dataclass(frozen=True)
class OutgoingMessage:
    """The test message as the relay will receive it: header fields, then a text body.

    Header values are field bodies already encoded for the wire (folded lines start with
    a space). `as_bytes` and `message[name]` read it as an `EmailMessage` was read.
    """

    headers: tuple[tuple[str, str], ...]
    body: str

    def __getitem__(self, name: str) -> str:
        for field_name, value in self.headers:
            if field_name.lower() == name.lower():
                return value
        raise KeyError(name)

    def as_bytes(self) -> bytes:
        head = "".join(f"{name}: {value}{CRLF}" for name, value in self.headers)
        return (head + CRLF + self.body).encode("utf-8")


def _ascii_domain(domain: str) -> str:
    if domain.isascii() or domain.startswith("["):
        return domain
    return idna.encode(domain, uts46=True).decode("ascii")


def wire_address(address: str) -> tuple[str, bool]:
    """The address with an IDNA domain, and True if the local part still needs SMTPUTF8."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{_ascii_domain(domain)}", not local.isascii()


def envelope(sender: str, recipient: str) -> Envelope:
    wire_sender, sender_utf8 = wire_address(sender)
    wire_recipient, recipient_utf8 = wire_address(recipient)
    return Envelope(wire_sender, wire_recipient, sender_utf8 or recipient_utf8)


def display_name(name: str) -> str:
    """`name` as a phrase readers decode back to exactly `name`, whatever it contains.

    A plain phrase is written as is; anything else (specials, non-ASCII, runs of spaces,
    a literal "=?...?=") becomes RFC 2047 encoded-words made from the literal text, so
    an encoded-word a client wrote is shown, never decoded. Words break after a space
    where they can (each space stays inside its word), because some readers, Python's
    among them, put a space between adjacent encoded-words that RFC 2047 says to drop.
    """
    if _PLAIN_PHRASE.fullmatch(name) and "=?" not in name:
        return name
    words: list[str] = []
    chunk = ""
    for piece in _pieces(name):
        if chunk and len(_encoded_word(chunk + piece)) > _MAX_ENCODED_WORD:
            words.append(_encoded_word(chunk))
            chunk = ""
        chunk += piece
    words.append(_encoded_word(chunk))
    return (CRLF + " ").join(words)


def _pieces(name: str) -> list[str]:
    """Words with their trailing spaces, a word too long for one encoded-word split up."""
    pieces: list[str] = []
    for word in re.findall(r"[^ ]* *", name):
        while word:
            size = len(word)
            while len(_encoded_word(word[:size])) > _MAX_ENCODED_WORD:
                size -= 1
            pieces.append(word[:size])
            word = word[size:]
    return pieces


def _encoded_word(text: str) -> str:
    return _UTF8.header_encode(text)


def _mailbox(address: str, field_name: str) -> str:
    """A validated address, refused here too if it could be read as more than itself."""
    if has_control_chars(address) or has_encoded_word(address):
        raise ValueError(f"{field_name}: the address cannot be written safely in a header")
    return address


def _checked(name: str, value: str) -> str:
    """The one guarantee this module gives: a field body is a single logical line."""
    for number, line in enumerate(value.split(CRLF)):
        if has_control_chars(line) or (number and (not line.startswith(" ") or not line.strip())):
            raise ValueError(f"the {name} header would not be a single header field")
    return value


def build_test_message(
    profile: Profile, recipient: str, test_id: str, now: datetime, envelope: Envelope,
    tls: TlsMode,
) -> OutgoingMessage:
    """The message for `envelope`; raises ValueError if a value could add a line or part.

    The profile and recipient were validated before (domain/profile.py), so the
    ValueError is a last line of defence, not a way to report bad input.
    """
    if not _TEST_ID.fullmatch(test_id):
        raise ValueError("the test id must be letters, digits, dots and hyphens")
    sender = _mailbox(envelope.sender, "From")
    to = _mailbox(envelope.recipient, "To")
    name = profile.sender_name or ""
    if has_control_chars(name):
        raise ValueError("From: the display name holds control characters")
    sender_domain = _ascii_domain(sender.rpartition("@")[2]) or "localhost"
    security = {TlsMode.IMPLICIT: "implicit TLS", TlsMode.STARTTLS: "STARTTLS",
                TlsMode.NONE: "no TLS"}[tls]
    relay = ascii_host(profile.host or "")
    headers = (
        ("From", f"{display_name(name)} <{sender}>" if name else sender),
        ("To", to),
        ("Date", format_datetime(now)),
        ("Message-ID", f"<{test_id}@{sender_domain}>"),
        ("Subject", f"SMTP profile test {test_id}"),
        ("X-SMTP-Profile-Test-Id", test_id),
        ("X-Mailer", USER_AGENT),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="us-ascii"'),
        ("Content-Transfer-Encoding", "7bit"),
    )
    body = CRLF.join((
        "This is a test message from the SMTP profile of your certificate-management",
        "platform.",
        "",
        f"Test id:   {test_id}",
        f"Relay:     {relay}:{profile.port} ({security})",
        f"Sent at:   {now.isoformat()}",
        "",
        "If you received it, the relay settings work. No action is needed.",
        "",
    ))
    return OutgoingMessage(tuple((n, _checked(n, v)) for n, v in headers), body)
