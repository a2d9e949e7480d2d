"""Wire decoding: case folding, duplicates, strict JSON types, form bodies, v2 secrets."""

from __future__ import annotations

from typing import Any

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.wire import v1, v2
from smtp_profile.wire.body import parse_form, parse_json_object


def test_keys_fold_to_pascal_case_including_nested_ones() -> None:
    draft = v2.decode_profile({"HOST": "h", "port": 1, "relayusername": {"secretvalue": "u"},
                               "requestHeaders": [{"name": "X", "VALUE": "1"}]})
    assert draft.host == "h" and draft.username == "u"
    assert draft.request_headers is not None
    assert (draft.request_headers[0].name, draft.request_headers[0].value) == ("X", "1")


def test_keys_differing_only_in_case_are_refused() -> None:
    with pytest.raises(DomainError) as caught:
        v1.decode_profile({"Host": "a", "HOST": "b"})
    assert caught.value.kind is ErrorKind.MALFORMED_BODY


@pytest.mark.parametrize(("data", "message"), [
    ({"Port": "25.5"}, "Port: must be a whole number"),
    ({"Port": True}, "Port: must be a whole number"),
    ({"UseSSL": 1}, "UseSSL: must be true or false"),
    ({"Host": 5}, "Host: must be a string"),
    ({"RelayUsername": {"SecretValue": "x"}}, "RelayUsername: must be a string"),
    ({"Nope": "a\r\nb"}, "Nope must not contain line breaks"),
])
def test_v1_types_are_strict(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        v1.decode_profile(data)
    assert message in caught.value.message


def test_v2_secret_must_be_an_object() -> None:
    with pytest.raises(ValidationFailed) as caught:
        v2.decode_profile({"RelayPassword": "plain"})
    assert "RelayPassword: must be an object" in caught.value.message


def test_empty_secret_values_mean_not_sent() -> None:
    assert v2.decode_profile({"RelayPassword": {"SecretValue": ""}}).password is None
    assert v2.decode_profile({"RelayPassword": None}).password is None
    assert v1.decode_profile({"RelayPassword": ""}).password is None


def test_deprecated_sender_address_is_accepted_and_ignored() -> None:
    assert v1.decode_profile({"SenderAddress": "x@y.z"}).sender_account is None


def test_form_values_are_converted() -> None:
    draft = v1.decode_profile(parse_form(b"Port=2526&UseSSL=true&RelayUsername=&Host=h"))
    assert (draft.port, draft.use_ssl, draft.username, draft.host) == (2526, True, None, "h")


@pytest.mark.parametrize("body", [b"Port=1&Port=2", b"\xff=1", b"a=%FF"])
def test_bad_forms_are_refused(body: bytes) -> None:
    with pytest.raises(DomainError):
        parse_form(body)


@pytest.mark.parametrize("body", [b"", b"  ", b"[]", b"null", b"1", b'"s"', b"{", b'{"a":1}x',
                                  b'{"a":1,"a":2}', b'{"a":Infinity}', b"\xfe\xff"])
def test_only_one_json_object_is_accepted(body: bytes) -> None:
    with pytest.raises(DomainError) as caught:
        parse_json_object(body)
    assert caught.value.kind is ErrorKind.MALFORMED_BODY


def test_a_utf8_bom_is_tolerated() -> None:
    assert parse_json_object("\ufeff{}".encode()) == {}
