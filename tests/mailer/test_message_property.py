"""Property: no value of any field can add a header line or a body part to the test message.

Hypothesis draws sender names, sender accounts (dot-atoms, quoted local parts, IDN and
address-literal domains), recipients and test ids, hostile ones included (RFC 2047
encoded-words hiding CR LF, quotes, backslashes, angle brackets, "=?...?="). Whatever the
domain rules accept must build a message that parses to exactly the expected headers,
each once, with the expected decoded values, and one text body; whatever they refuse is
refused with ValidationFailed, never sent. The builder on its own treats any display
name as literal text. A few drawn examples then go through the real service to a real
aiosmtpd relay, where the envelope must be exactly one MAIL and one RCPT.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from smtp_profile.domain.addresses import has_control_chars
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.profile import (
    Profile,
    ProfileDraft,
    TlsMode,
    build_profile,
    check_recipient,
)
from smtp_profile.mailer.message import build_test_message, envelope
from tests.api.test_message_injection import CountingHandler, expected_envelope
from tests.support.message import assert_exact_message
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import LoopThread, SmtpServer

NOW = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
BOUNDED = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])
ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-" + "éüß例"
INJECTIONS = ["\r\nBcc: victim@evil.example\r\n", "\nX-Injected: yes",
              "\r\n\r\n<html>body</html>", "\r\nContent-Type: multipart/mixed; boundary=b\r\n"]


def b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def q_word(text: str) -> str:
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in text.encode()) + "?="


encoded_words = st.builds(lambda f, text: f(text), st.sampled_from([b_word, q_word]),
                          st.sampled_from(INJECTIONS) | st.text(max_size=12))
# Text the domain rules accept (no control, format or line-separator characters) ...
safe_text = st.text(st.characters(codec="utf-8",
                                  exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp"]),
                    min_size=1, max_size=40)
tricky_text = st.text(st.sampled_from(list('ab "\\<>@,;:=?_.()[]é例 ')), min_size=1,
                      max_size=30)
# ... and names of every kind: plain, full of specials, carrying encoded-words that hide
# CR LF, long enough to fold, and (rarely) with raw control characters.
names = st.one_of(
    safe_text, tricky_text,
    st.builds(lambda a, w, b: a + w + b, tricky_text, encoded_words, tricky_text),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp"]),
            min_size=100, max_size=256),
    st.text(max_size=20),
)
literal_names = st.one_of(
    safe_text, tricky_text,
    st.builds(lambda a, w, b: a + w + b, tricky_text, encoded_words, tricky_text),
).filter(lambda n: n.strip() != "")

dot_atoms = st.lists(st.text(st.sampled_from(list(ATEXT)), min_size=1, max_size=8),
                     min_size=1, max_size=3).map(".".join)
quoted = st.text(st.sampled_from(list('ax "\\<>@,;:=?_.()é ')), max_size=20).map(
    lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
hostile_locals = st.one_of(encoded_words.map(lambda word: f'"{word}"'[:64]),
                           encoded_words.map(lambda word: word[:64]))
# One local part in five carries an encoded-word (refused); the rest are valid.
local_parts = st.sampled_from([0, 1, 2, 3, 4]).flatmap(
    lambda pick: hostile_locals if pick == 0 else st.one_of(dot_atoms, quoted))
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
domains = st.one_of(
    st.lists(labels, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "example"])),
    st.sampled_from(["bücher.example", "exämple.test", "пример.example", "例え.test",
                     "xn--bcher-kva.example", "[192.0.2.1]", "[IPv6:2001:db8::1]",
                     "localhost"]),
)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)
test_ids = st.one_of(st.uuids().map(str), st.text(max_size=20),
                     st.sampled_from(["t1", "a\r\nBcc: x@y", "x y", "-lead"]))
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,63}")


def build(name: str, sender: str, recipient: str, test_id: str, tls: TlsMode) -> bytes:
    profile = Profile(host="mail.test", port=25, sender_account=sender, sender_name=name)
    wire = envelope(sender, recipient)
    return build_test_message(profile, recipient, test_id, NOW, wire, tls).as_bytes()


@BOUNDED
@given(name=names, sender=addresses, recipient=addresses, test_id=test_ids,
       tls=st.sampled_from(TlsMode))
def test_whatever_the_rules_accept_builds_exactly_the_expected_message(
        name: str, sender: str, recipient: str, test_id: str, tls: TlsMode) -> None:
    draft = ProfileDraft(host="mail.test", port=25, sender_account=sender, sender_name=name)
    try:
        profile = build_profile(draft, Profile())
        to = check_recipient(recipient)
    except ValidationFailed:
        event("refused by the domain rules")
        return
    assert profile.sender_name == name and profile.sender_account == sender and to == recipient
    if not VALID_ID.fullmatch(test_id):
        with pytest.raises(ValueError, match="test id"):
            build(name, sender, recipient, test_id, tls)
        return
    event("built" + (" (SMTPUTF8)" if envelope(sender, recipient).smtputf8 else ""))
    data = build(name, sender, recipient, test_id, tls)
    assert_exact_message(data, sender_name=name, sender=sender, recipient=recipient,
                         test_id=test_id)
    wire = envelope(sender, recipient)
    for address in (wire.sender, wire.recipient):
        assert not has_control_chars(address) and " " not in address.rpartition("@")[2]


@BOUNDED
@given(name=literal_names, test_id=st.uuids().map(str))
def test_the_builder_alone_sends_any_display_name_as_literal_text(name: str,
                                                                 test_id: str) -> None:
    """Without the domain rules, even a name whose encoded-words hide CR LF is only text."""
    data = build(name, "noreply@corp.local", "pki@corp.local", test_id, TlsMode.NONE)
    assert_exact_message(data, sender_name=name, sender="noreply@corp.local",
                         recipient="pki@corp.local", test_id=test_id)


@pytest.fixture(scope="module")
def one_service(tmp_path_factory: pytest.TempPathFactory,
                ca_bundle: Path) -> Iterator[RunningService]:
    running = start_service(service_settings(tmp_path_factory.mktemp("property"), ca_bundle),
                            StaticResolver({"mail.test": ["127.0.0.1"]}))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def counting(loop_thread: LoopThread) -> Iterator[tuple[SmtpServer, CountingHandler]]:
    relay = SmtpServer(loop_thread)
    handler = CountingHandler(relay.behaviour)
    relay.handler = handler
    yield relay, handler
    relay.close()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(name=names, sender=addresses, recipient=addresses)
def test_drawn_examples_through_the_service_make_one_mail_and_one_rcpt(
        one_service: RunningService, counting: tuple[SmtpServer, CountingHandler],
        name: str, sender: str, recipient: str) -> None:
    relay, handler = counting
    relay.received.clear()
    handler.commands.clear()
    body: dict[str, Any] = {"Host": "127.0.0.1", "Port": relay.port, "SenderName": name,
                            "SenderAccount": sender, "TestRecipient": recipient}
    with one_service.client() as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json=body)
    if response.status_code == 400 and response.json()["ErrorCode"] == "0xA0110001":
        event("refused by the domain rules")
        assert relay.received == [] and handler.commands == []
        return
    assert response.status_code == 200, response.text
    assert handler.envelope() == expected_envelope(sender, recipient)
    [received] = relay.received
    assert_exact_message(received.data, sender_name=name, sender=sender,
                         recipient=recipient, test_id=response.headers["x-test-id"])




@pytest.mark.parametrize(("name", "sender", "recipient", "test_id", "wording"), [
    ("IT\r\nBcc: v@evil.example", "a@corp.local", "b@corp.local", "t1", "display name"),
    ("IT", "=?utf-8?q?=0D=0A?=@corp.local", "b@corp.local", "t1", "From"),
    ("IT", "a@corp.local", '"=?utf-8?b?DQo=?="@corp.local', "t1", "To"),
    ("IT", "a@corp.local", "b@corp.local", "t1\r\nBcc: v@evil.example", "test id"),
])
def test_the_builder_refuses_what_it_cannot_write_safely(
        name: str, sender: str, recipient: str, test_id: str, wording: str) -> None:
    """A last line of defence: the domain rules refuse all of these before."""
    with pytest.raises(ValueError, match=wording):
        build(name, sender, recipient, test_id, TlsMode.NONE)
