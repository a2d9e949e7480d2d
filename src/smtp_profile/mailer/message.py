"""The test message: well-formed, traceable by its test id, and injection-proof.

Header values come from validated fields (no CR/LF can reach here) and are still built
with the `email` package's header objects, which fold and encode rather than splice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import idna

from smtp_profile.domain.profile import Profile, TlsMode

USER_AGENT = "smtp-profile"


@dataclass(frozen=True)
class Envelope:
    """Addresses as they go on the wire, and whether the relay must speak SMTPUTF8."""

    sender: str
    recipient: str
    smtputf8: bool


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


def _address(address: str, display_name: str = "") -> Address:
    local, _, domain = address.rpartition("@")
    if local.startswith('"') and local.endswith('"'):
        local = local[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return Address(display_name=display_name, username=local, domain=domain)


def build_test_message(
    profile: Profile, recipient: str, test_id: str, now: datetime, envelope: Envelope,
    tls: TlsMode,
) -> EmailMessage:
    sender = profile.sender_account or ""
    sender_domain = _ascii_domain(sender.rpartition("@")[2]).strip("[]") or "localhost"
    message = EmailMessage(policy=policy.SMTPUTF8 if envelope.smtputf8 else policy.SMTP)
    message["From"] = _address(sender, profile.sender_name or "")
    message["To"] = _address(recipient)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{test_id}@{sender_domain}>"
    message["Subject"] = f"SMTP profile test {test_id}"
    message["X-SMTP-Profile-Test-Id"] = test_id
    message["X-Mailer"] = USER_AGENT
    security = {TlsMode.IMPLICIT: "implicit TLS", TlsMode.STARTTLS: "STARTTLS",
                TlsMode.NONE: "no TLS"}[tls]
    message.set_content(
        "This is a test message from the SMTP profile of your certificate-management "
        "platform.\n\n"
        f"Test id:   {test_id}\n"
        f"Relay:     {profile.host}:{profile.port}"
        f" ({security})\n"
        f"Sent at:   {now.isoformat()}\n\n"
        "If you received it, the relay settings work. No action is needed.\n"
    )
    return message
