"""JSON text from outside (domain/json_text.py, mailer/xoauth2.py): nesting too deep for the
interpreter is refused as text that is not JSON, never a RecursionError."""

from __future__ import annotations

import base64

import pytest

from smtp_profile.domain.json_text import NotJson, parse_json
from smtp_profile.mailer.xoauth2 import _decode_error

DEEP = "[" * 50_000 + "]" * 50_000


def test_nesting_too_deep_is_not_json_and_ordinary_json_still_reads() -> None:
    with pytest.raises(NotJson, match="nested too deeply"):
        parse_json(DEEP)
    with pytest.raises(ValueError, match="nested too deeply"):  # what every caller catches
        parse_json(DEEP.encode())
    with pytest.raises(ValueError, match="Expecting property name"):
        parse_json("{not json")
    assert parse_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_a_relays_xoauth2_challenge_nested_too_deeply_is_ignored_not_a_crash() -> None:
    deep = base64.b64encode(DEEP.encode()).decode()
    assert _decode_error(deep) is None
    plain = base64.b64encode(b'{"status": "400", "schemes": "Bearer"}').decode()
    assert _decode_error(plain) == '{"schemes": "Bearer", "status": "400"}'
