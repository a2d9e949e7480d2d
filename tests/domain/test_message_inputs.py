"""The domain rules that keep field values from rewriting the test message or its route:
encoded-words hiding control characters, and recipients a relay would route elsewhere."""

from __future__ import annotations

import base64

import pytest

from smtp_profile.domain.addresses import AddressError, check_display_name, check_mailbox
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.profile import (
    Profile,
    ProfileDraft,
    build_profile,
    check_recipient,
    check_stored_sender,
)
from smtp_profile.domain.recipients import RecipientPolicy, parse_domains

CRLF_BCC = "\r\nBcc: victim@evil.example\r\n"


def b_word(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?b?" + base64.b64encode(text.encode(charset)).decode() + "?="


@pytest.mark.parametrize("name", [
    b_word("IT Security" + CRLF_BCC),
    b_word("IT" + CRLF_BCC)[:-3] + "?=",             # bad padding: lenient readers decode it
    "=?UTF-8?B?" + base64.b64encode(b"x\ny").decode() + "?=",
    "=?iso-8859-1?q?IT=0D=0ABcc:=20v@evil.example?=",
    "=?utf-8*en?Q?IT=0AX-Injected:_yes?=",           # RFC 2231 language tag
    'IT "=?utf-8?q?x=0Ay?=" Security',               # inside a quoted string
    "before=?utf-8?q?=00?=after",                    # not separated by spaces
    "=?latin-1?q?=85?=",                             # NEL, a C1 control
    "=?utf-8?q?=0D=0ABcc:_v@evil.example",           # unterminated: Python decodes it
    "=?utf-8?q?=E2=80=A8?=",                         # U+2028 LINE SEPARATOR
    "=?utf-8?q?=E2=80=AE?=",                         # U+202E bidi override
    b_word("a\r\nb", "utf-16"),                      # CR LF paired with NULs
    "=?utf-7?q?+AA0ACg-?=",                          # CR LF in UTF-7
    "=?unicode_escape?q?\\r\\n?=",                   # a codec Python has
    "=?x-unknown?q?=0D=0A?=",                        # an unknown charset
])
def test_display_names_hiding_control_characters_are_refused(name: str) -> None:
    with pytest.raises(AddressError, match="encoded-word"):
        check_display_name(name)
    draft = ProfileDraft(host="mail.test", port=25, sender_account="a@corp.local",
                         sender_name=name)
    with pytest.raises(ValidationFailed) as caught:
        build_profile(draft, Profile())
    assert caught.value.message.startswith("SenderName holds an RFC 2047 encoded-word")


@pytest.mark.parametrize("name", [
    "Keyfactor Command", "=?utf-8?q?J=C3=B6rg?=", "=?utf-8?b?SGVsbG8=?= World",
    "=? not a word ?=", "Zoë =?", "a?=b=?c",
])
def test_display_names_that_only_look_encoded_are_kept_as_text(name: str) -> None:
    check_display_name(name)
    profile = build_profile(ProfileDraft(host="mail.test", port=25,
                                         sender_account="a@corp.local", sender_name=name),
                            Profile())
    assert profile.sender_name == name


@pytest.mark.parametrize("address", [
    f"{b_word(CRLF_BCC)}@corp.local",
    f'"{b_word(CRLF_BCC)}"@corp.local',
    '"=?utf-8?q?harmless?="@corp.local',             # any encoded-word: RFC 2047 section 5
    "x=?utf-8?q?y?=@corp.local",
    "=?utf-8?q?=0D=0A=42@corp.local",                # unterminated: Python decodes it
    '"=?utf-8?q?=0D=0A=42"@corp.local',
    "=?utf-8?b?AAAA@corp.local",                     # the start of a word is enough
])
def test_local_parts_with_encoded_words_are_refused(address: str) -> None:
    with pytest.raises(AddressError, match="encoded-word"):
        check_mailbox(address)
    with pytest.raises(ValidationFailed, match="TestRecipient has an RFC 2047 encoded-word"):
        check_recipient(address)


@pytest.mark.parametrize("address", [
    '"quoted, with @ and <>"@corp.local', "a=b?c@corp.local", '"=?"@corp.local',
    "=?utf-8?x?AAAA@corp.local", "a=?b@corp.local",
])
def test_local_parts_that_only_look_encoded_are_kept(address: str) -> None:
    assert check_recipient(address) == address


def test_a_stored_sender_is_held_to_todays_rules() -> None:
    check_stored_sender(Profile(sender_account="a@corp.local", sender_name="KF"))
    with pytest.raises(ValidationFailed) as caught:
        check_stored_sender(Profile(sender_account=f"{b_word(CRLF_BCC)}@corp.local",
                                    sender_name=b_word("IT" + CRLF_BCC)))
    assert caught.value.message.startswith("The stored SenderAccount has an RFC 2047")
    assert "The stored SenderName holds an RFC 2047" in caught.value.message


ALLOWED = RecipientPolicy(parse_domains("corp.example"))


@pytest.mark.parametrize(("recipient", "wording"), [
    ("x%evil.example@corp.example", "'%' (percent-hack routing)"),
    ("x%evil.example%@corp.example", "'%' (percent-hack routing)"),
    ("evil.example!x@corp.example", "'!' (a UUCP bang path)"),
    ('"x@evil.example"@corp.example', "an '@'"),
    ('"x\\@evil.example"@corp.example', "an '@'"),
    ('"x%evil.example"@corp.example', "'%' (percent-hack routing)"),
    ('"evil.example!x"@corp.example', "'!' (a UUCP bang path)"),
])
def test_the_allowlist_refuses_recipients_a_relay_would_route_elsewhere(
        recipient: str, wording: str) -> None:
    check_recipient(recipient)  # valid addresses: only the allowlist refuses them
    refusal = ALLOWED.refusal(recipient)
    assert refusal is not None and wording in refusal
    assert "may use to deliver to another domain" in refusal


@pytest.mark.parametrize("recipient", [
    "x@corp.example", "x.y+tag@corp.example", '"x y"@corp.example', "o'brien@CORP.example",
])
def test_the_allowlist_still_accepts_plain_recipients(recipient: str) -> None:
    assert ALLOWED.refusal(recipient) is None


def test_without_an_allowlist_routing_characters_are_the_relays_business() -> None:
    assert RecipientPolicy().refusal("x%evil.example@corp.example") is None
