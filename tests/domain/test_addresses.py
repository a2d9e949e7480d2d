"""Host and mailbox syntax: what an enterprise relay setup needs, and nothing that injects."""

from __future__ import annotations

import pytest

from smtp_profile.domain.addresses import AddressError, ascii_host, check_mailbox


@pytest.mark.parametrize(("host", "expected"), [
    ("smtp.keyexample.com", "smtp.keyexample.com"),
    ("SMTP.Example.COM.", "smtp.example.com"),
    ("localhost", "localhost"),
    ("mail.corp.local", "mail.corp.local"),
    ("relay.internal", "relay.internal"),
    ("10.0.0.5", "10.0.0.5"),
    ("::1", "::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("a" * 63 + ".example", "a" * 63 + ".example"),
])
def test_valid_hosts(host: str, expected: str) -> None:
    assert ascii_host(host) == expected


@pytest.mark.parametrize("host", [
    "", "bad host", "tab\there", "line\r\nbreak", "nul\x00", "-lead.example", "trail-.example",
    "two..dots", ".leading", "a" * 64 + ".example", "under_score.example", "[not-an-ip]",
    "999.1.1.1", "1.2.3", "xn--zz.example", "é" * 300, "a/b", "mail.test:25",
])
def test_invalid_hosts(host: str) -> None:
    with pytest.raises(AddressError):
        ascii_host(host)


@pytest.mark.parametrize("address", [
    "svc_mail@keyexample.com", "noreply@corp.local", "admin@localhost", "a.b+tag@x.test",
    "user@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "usér@exämple.com", '"quoted name"@x.test',
    "o'brien@x.internal", "x" * 64 + "@x.test",
])
def test_valid_mailboxes(address: str) -> None:
    check_mailbox(address)


@pytest.mark.parametrize("address", [
    "", "plain", "@x.test", "user@", "a@b@c.test", "two words@x.test", "a..b@x.test",
    ".a@x.test", "a@x.test\r\nBcc: v@y.test", "a@x\x00.test", "x" * 65 + "@x.test",
    "user@[1.2.3]", "user@[IPv6:zz]", "user@bad_domain.test", "user@-x.test", "(c)@x.test",
    "a" * 300 + "@x.test", "pki@corp.local.", "pki@localhost.",
])
def test_invalid_mailboxes(address: str) -> None:
    with pytest.raises(AddressError):
        check_mailbox(address)
