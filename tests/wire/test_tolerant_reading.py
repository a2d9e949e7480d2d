"""Keyfactor's shapes are read as Keyfactor's server (ASP.NET, Json.NET) reads them (issue 15).

Unknown properties ignored and never kept; whole numbers and booleans also from strings;
null values in a secret's Parameters. And what stays refused: duplicate and case-clashing
keys, control characters (in ignored properties and names too), strings the real reader
refuses, PAM references. This service's own shapes (Options) stay strict.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.wire import v1, v2
from smtp_profile.wire.binding import bind
from smtp_profile.wire.body import parse_form, parse_json_object
from smtp_profile.wire.models import OptionsIn, ProfileV2In, TestV1In
from smtp_profile.wire.report import decode_diagnose, decode_options
from smtp_profile.wire.scalars import (
    BOOLEAN_STRING_PATTERN,
    WHOLE_NUMBER_STRING_PATTERN,
    read_boolean,
    read_whole_number,
)

SECRET = "Ignored-Canary-5e1f"


def test_unknown_properties_are_ignored_at_every_level_and_not_kept() -> None:
    body = bind(ProfileV2In, {
        "Host": "h", "Port": 25, "Unknown": SECRET, "nested": {"a": [SECRET]},
        "RelayPassword": {"SecretValue": "pw", "HasValue": True, "Extra": SECRET},
        "RequestHeaders": [{"Name": "X-A", "Value": "1", "Comment": SECRET}],
    })
    assert SECRET not in repr(body.model_dump())
    assert body.model_fields_set == {"host", "port", "relay_password", "request_headers"}
    draft = v2.decode_profile({"Host": "h", "RelayPassword": {"SecretValue": "pw", "x": 1},
                               "Provider": 1, "Parameters": {"a": "b"}})
    assert draft.password is not None and draft.password.reveal() == "pw"


def test_only_the_names_of_ignored_properties_are_logged_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_profile.wire.binding")
    v2.decode_profile({"Host": "h", "RelayPasswrod": {"SecretValue": SECRET},
                       "RelayPassword": {"SecretValue": "pw", "HasValue": SECRET},
                       **{f"x{i}": SECRET for i in range(30)}, "y" * 500: 1})
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    message = record.getMessage()
    assert "'RelayPasswrod'" in message and "'RelayPassword.HasValue'" in message
    assert SECRET not in message
    assert "and 13 more" in message and len(message) < 2000


def test_nothing_is_logged_when_nothing_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_profile.wire.binding")
    v1.decode_profile({"Host": "h", "host2": None} | {"Port": 25})
    assert len(caplog.records) == 1
    caplog.clear()
    v1.decode_profile({"Host": "h", "Port": 25})
    assert caplog.records == []


@pytest.mark.parametrize(("text", "number"), [
    ("25", 25), (" 25 ", 25), ("+25", 25), ("-1", -1), ("0025", 25), ("0", 0),
    ("0" * 40 + "7", 7), ("", None),
])
def test_whole_numbers_from_strings_as_json_net_reads_them(text: str,
                                                           number: int | None) -> None:
    assert read_whole_number(text) == number


@pytest.mark.parametrize(("text", "flag"), [
    ("true", True), ("True", True), ("TRUE", True), (" false ", False), ("False", False),
    ("", None),
])
def test_booleans_from_strings_as_json_net_reads_them(text: str, flag: bool | None) -> None:
    assert read_boolean(text) is flag


def test_string_numbers_and_booleans_in_profiles_and_forms() -> None:
    draft = v1.decode_profile({"Id": "1", "Port": "2525", "RelayAuthenticationType": "2",
                               "UseSSL": "True"})
    assert (draft.profile_id, draft.port, draft.auth_type, draft.use_ssl) == (1, 2525, 2, True)
    assert v2.decode_profile({"Port": "587", "useSSL": "false"}).use_ssl is False
    assert v1.decode_profile({"Port": ""}).port == 25  # "" is null, and null means 25 in v1
    form = v1.decode_profile(parse_form(b"Port=+465&UseSSL=TRUE&Id=1&Other=x"))
    assert (form.port, form.use_ssl, form.profile_id) == (465, True, 1)
    assert v1.decode_test({"Port": "25", "TestRecipient": "a@b.test", "Note": 1})[1] == "a@b.test"


@pytest.mark.parametrize(("data", "message"), [
    ({"Port": "25.5"}, "Port: must be a whole number; a string holding one"),
    ({"Port": "2.5e1"}, "Port: must be a whole number"),
    ({"Port": "0x19"}, "Port: must be a whole number"),
    ({"Port": "1_000"}, "Port: must be a whole number"),
    ({"Port": "\u0662\u0665"}, "Port: must be a whole number"),  # Arabic-Indic 25
    ({"Port": "2 5"}, "Port: must be a whole number"),
    ({"Port": " "}, "Port: must be a whole number"),
    ({"Port": "9" * 31}, "Port: must be a whole number of at most 30 digits"),
    ({"Port": "9" * 5000}, "Port: must be a whole number of at most 30 digits"),
    ({"Port": "25\t"}, "Port must not contain line breaks"),
    ({"Port": 25.0}, "Port: must be a whole number"),
    ({"Port": True}, "Port: must be a whole number"),
    ({"Port": ["25"]}, "Port: must be a whole number"),
    ({"UseSSL": "yes"}, 'UseSSL: must be true or false; as a string, "true" or "false"'),
    ({"UseSSL": "1"}, "UseSSL: must be true or false"),
    ({"UseSSL": "on"}, "UseSSL: must be true or false"),
    ({"UseSSL": "t"}, "UseSSL: must be true or false"),
    ({"UseSSL": 1}, "UseSSL: must be true or false"),
    ({"UseSSL": 0}, "UseSSL: must be true or false"),
    ({"Host": 5}, "Host: must be a string"),
])
def test_what_the_real_reader_refuses_stays_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        v1.decode_profile(data)
    assert message in caught.value.message


def test_forms_refuse_what_json_refuses() -> None:
    for form in (b"UseSSL=1", b"UseSSL=on", b"Port=25.0", b"Port=1_000"):
        with pytest.raises(ValidationFailed):
            v1.decode_profile(parse_form(form))


def test_the_documented_patterns_describe_the_readers() -> None:
    import re

    for text in ("25", " +25 ", "", "007"):
        assert re.fullmatch(WHOLE_NUMBER_STRING_PATTERN.strip("^$"), text)
    for text in ("25.5", "0x1", " "):
        assert not re.fullmatch(WHOLE_NUMBER_STRING_PATTERN.strip("^$"), text)
    for text in ("true", " FaLsE ", ""):
        assert re.fullmatch(BOOLEAN_STRING_PATTERN.strip("^$"), text)
    for text in ("1", "yes", " "):
        assert not re.fullmatch(BOOLEAN_STRING_PATTERN.strip("^$"), text)


def test_schema_shows_both_forms_and_no_closed_objects() -> None:
    schema = ProfileV2In.model_json_schema(by_alias=True)
    assert "additionalProperties" not in schema
    assert "additionalProperties" not in schema["$defs"]["SecretIn"]
    port_forms = schema["properties"]["Port"]["anyOf"]
    assert {"type": "integer"} in port_forms
    assert {"type": "string", "pattern": WHOLE_NUMBER_STRING_PATTERN} in port_forms
    assert OptionsIn.model_json_schema(by_alias=True)["additionalProperties"] is False


# -- secrets -----------------------------------------------------------------------------

@pytest.mark.parametrize("parameters", [{"SecretName": None}, {"a": None, "b": ""}, {}, None])
def test_null_parameters_without_a_provider_are_no_reference(
        parameters: dict[str, Any] | None) -> None:
    draft = v2.decode_profile({"RelayPassword": {"SecretValue": "pw", "Parameters": parameters,
                                                 "Provider": None}})
    assert draft.password is not None and draft.password.reveal() == "pw"
    assert v2.decode_profile({"RelayPassword": {"Parameters": parameters}}).password is None


@pytest.mark.parametrize(("secret", "parameters"), [
    ({"Provider": 1, "Parameters": {"SecretName": "smtp", "Blank": None}},
     {"SecretName": "smtp"}),
    ({"Provider": "1", "Parameters": {}}, {}),
])
def test_pam_references_are_read_as_references(secret: dict[str, Any],
                                               parameters: dict[str, str]) -> None:
    draft = v2.decode_profile({"RelayPassword": secret})
    assert draft.password is None
    assert draft.password_ref is not None and draft.password_ref.provider_id == 1
    assert draft.password_ref.parameter_map == parameters


@pytest.mark.parametrize(("secret", "wording"), [
    ({"Parameters": {"SecretName": "smtp", "Other": None}}, "RelayPassword.Provider must be"),
    ({"Provider": 0, "Parameters": {"SecretName": "smtp"}}, "RelayPassword.Provider must be"),
    ({"Provider": "x", "Parameters": {}}, "RelayPassword.Provider must be"),
    ({"SecretValue": "pw", "Parameters": {"SecretName": "smtp"}}, "not both"),
])
def test_malformed_pam_references_are_refused(secret: dict[str, Any], wording: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        v2.decode_profile({"RelayPassword": secret})
    assert wording in caught.value.message


def test_parameters_values_are_strings_or_null() -> None:
    with pytest.raises(ValidationFailed):
        v2.decode_profile({"RelayPassword": {"Parameters": {"a": 1}}})
    with pytest.raises(ValidationFailed) as caught:
        v2.decode_profile({"RelayPassword": {"Parameters": {"a": "x\r\ny"}}})
    assert "RelayPassword.Parameters.a must not contain line breaks" in caught.value.message


# -- what protects the service stays -------------------------------------------------------

@pytest.mark.parametrize("data", [
    {"Host": "a", "HOST": "b"},
    {"RelayPassword": {"SecretValue": "a", "secretvalue": "b"}},
    {"RequestHeaders": [{"Name": "a", "NAME": "b"}]},
])
def test_keys_differing_only_in_case_stay_refused(data: dict[str, Any]) -> None:
    with pytest.raises(DomainError) as caught:
        v2.decode_profile(data)
    assert caught.value.kind is ErrorKind.MALFORMED_BODY


def test_duplicate_keys_stay_refused_even_unknown_ones() -> None:
    with pytest.raises(DomainError) as caught:
        parse_json_object(b'{"Unknown": 1, "Unknown": 2}')
    assert caught.value.kind is ErrorKind.MALFORMED_BODY


@pytest.mark.parametrize(("data", "message"), [
    ({"Unknown": "a\r\nb"}, "Unknown must not contain line breaks"),
    ({"Unknown": {"deep": ["x\x00"]}}, "Unknown.deep[0] must not contain line breaks"),
    ({"Unknown\r\nX": 1}, "Field names must not contain line breaks"),
    ({"Un\u202eknown": 1}, "Field names must not contain line breaks"),
    ({"RelayPassword": {"HasValue\n": True}}, "Field names in RelayPassword must not contain"),
])
def test_control_characters_stay_refused_in_ignored_properties_and_names(
        data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        v2.decode_profile(data)
    assert message in caught.value.message
    assert "\r" not in caught.value.message and "\n" not in caught.value.message


def test_a_deeply_nested_ignored_value_is_no_server_error() -> None:
    """Python's recursion limit once made this a RecursionError (a 500 over HTTP)."""
    depth = 900
    text = '{"Host": "h", "x": ' + '{"a": ' * depth + '"\\u0000"' + "}" * depth + "}"
    with pytest.raises(ValidationFailed):
        v1.decode_profile(parse_json_object(text.encode()))
    text = text.replace('"\\u0000"', '"fine"')
    assert v1.decode_profile(parse_json_object(text.encode())).host == "h"


# -- this service's own shapes stay strict --------------------------------------------------

def test_options_still_refuse_unknown_fields_and_string_booleans() -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_options({"PinnedSha265": "ab" * 32})
    assert "Unknown field 'PinnedSha265'" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        decode_options({"Insecure": "true"})
    assert "Insecure: must be true or false" in caught.value.message


def test_diagnose_reads_a_test_body_as_test_does() -> None:
    request = decode_diagnose({"Host": "h", "Port": "25", "UseSSL": "false", "Mode": "verify",
                               "TestRecipient": "a@b.test", "Unknown": 1}, version=1)
    assert request.draft is not None and request.draft.port == 25
    assert decode_diagnose({"Mode": "verify", "Unknown": 1}, version=2).draft is None
    assert bind(TestV1In, {"Port": "25"}).port == 25
