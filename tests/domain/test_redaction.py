"""The one redaction: every usual form of a secret in play is cut out of any text."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from smtp_profile.domain.profile import AuthType, Profile
from smtp_profile.domain.redaction import Redactor, enhanced_status, profile_redactor
from smtp_profile.domain.secrets import Secret

SECRET = "Echo-Secret/+9x=Z"
USER = "svc@corp.local"


def redact(text: str, *secrets: str) -> str:
    return Redactor.of([Secret(s) for s in secrets or (SECRET,)], [USER]).text(text)


def test_the_secret_as_is_in_any_case_and_split_by_whitespace() -> None:
    for form in (SECRET, SECRET.upper(), SECRET.lower(), "Echo-Sec ret/+9x=Z",
                 " ".join(SECRET), "Echo-Secret/\r\n +9x=Z"):
        assert redact(f"535 5.7.8 bad {form} !") == "535 5.7.8 bad *** !", form


def test_url_encoded_forms() -> None:
    for form in (quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET),
                 quote(SECRET, safe="").lower()):
        assert redact(f"x={form}&y") == "x=***&y", form
    assert redact("a Pass+Word b", "Pass Word") == "a *** b"


def test_base64_alone_and_inside_sasl_blobs() -> None:
    raw = SECRET.encode()
    blobs = [base64.b64encode(raw), base64.urlsafe_b64encode(raw),
             base64.b64encode(b"\0" + USER.encode() + b"\0" + raw),
             base64.b64encode(USER.encode() + b"\0" + USER.encode() + b"\0" + raw),
             base64.b64encode(f"user={USER}\x01auth=Bearer {SECRET}\x01\x01".encode())]
    for blob in blobs:
        text = redact(f"535 5.7.8 {blob.decode()} rejected")
        assert "***" in text and SECRET not in text
        assert not _recoverable(text, raw), text


@given(prefix=st.binary(max_size=40), suffix=st.binary(max_size=40),
       secret=st.text(min_size=6, max_size=60).filter(lambda s: s.strip() == s and s))
def test_a_secret_base64_encoded_anywhere_in_a_blob_is_cut(prefix: bytes, suffix: bytes,
                                                          secret: str) -> None:
    blob = base64.b64encode(prefix + secret.encode() + suffix).decode()
    text = Redactor.of([Secret(secret)]).text(blob)
    assert not _recoverable(text, secret.encode())


def test_short_secrets_are_still_cut_from_whole_blobs() -> None:
    blob = base64.b64encode(b"\0" + USER.encode() + b"\0pw1").decode()
    assert redact(f"you sent {blob}", "pw1") == "you sent ***"


def test_several_secrets_and_added_ones() -> None:
    redactor = Redactor.of([Secret("first-secret")], [USER]).with_secret(Secret("tok-12345"))
    token_blob = base64.b64encode(f"user={USER}\x01auth=Bearer tok-12345\x01\x01".encode())
    assert redactor.text(f"first-secret {token_blob.decode()} TOK-12345") == "*** *** ***"


def test_structures_are_redacted_keys_and_values() -> None:
    redactor = Redactor.of([Secret(SECRET)])
    assert redactor.details({"error": f"no {SECRET}", SECRET: [SECRET, 3, {"k": SECRET}]}) == {
        "error": "no ***", "***": ["***", 3, {"k": "***"}]}


def test_nothing_to_redact_leaves_text_alone() -> None:
    assert Redactor.of([None, Secret(""), Secret("  ")]).text("250 OK") == "250 OK"
    assert "Echo" not in repr(Redactor.of([Secret(SECRET)]))


def test_a_profile_redactor_knows_password_client_secret_and_users() -> None:
    profile = Profile(host="mail.test", auth_type=AuthType.BASIC, username="svc",
                      password=Secret("pass-1234567"), sender_account="from@corp.local",
                      client_secret=Secret("client-abcdef"))
    redactor = profile_redactor(profile)
    plain = base64.b64encode(b"\0svc\0pass-1234567").decode()
    assert redactor.text(f"{plain} client-abcdef") == "*** ***"


def test_enhanced_status_codes() -> None:
    assert enhanced_status("5.7.8 Authentication credentials invalid") == "5.7.8"
    assert enhanced_status("2.7.0 ok") == "2.7.0"
    assert enhanced_status("Authentication failed") is None
    assert enhanced_status("5.7.8x") is None
    assert enhanced_status(None) is None


def _recoverable(text: str, raw: bytes) -> bool:
    """Whether `raw` can be decoded back out of any base64 run left in `text`."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")
    runs, current = [], ""
    for ch in text + " ":
        if ch in alphabet:
            current += ch
        else:
            runs.append(current)
            current = ""
    for run in runs:
        run = run.rstrip("=").translate(str.maketrans("-_", "+/"))
        for start in range(4):
            piece = run[start:]
            piece = piece[: len(piece) - len(piece) % 4]
            try:
                if raw in base64.b64decode(piece):
                    return True
            except ValueError:
                continue
    return raw in text.encode()
