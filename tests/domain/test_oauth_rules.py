"""Type 3 (OAuth client credentials): validation, client-secret binding, version 1 rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.oauth import (
    MAX_REQUEST_HEADERS,
    OAuthSettingError,
    RequestHeader,
    check_token_endpoint,
    endpoint_destination,
    is_loopback_host,
)
from smtp_profile.domain.profile import (
    AuthType,
    Profile,
    ProfileDraft,
    build_profile,
    build_replacement,
)
from smtp_profile.domain.secrets import Secret

SEED = Profile()
ENDPOINT = "https://login.example.com/tenant/oauth2/v2.0/token"
OAUTH = ProfileDraft(
    host="smtp.example.com", port=587, auth_type=3, use_ssl=True,
    sender_account="svc@corp.local", sender_name="KF",
    client_id="client-1", client_secret=Secret("cs-1"), token_endpoint=ENDPOINT,
    scope="https://outlook.office365.com/.default", audience="api://smtp",
    request_headers=(RequestHeader("X-Tenant", "corp"),),
)
BASIC = ProfileDraft(host="smtp.example.com", port=587, auth_type=2, use_ssl=True,
                     username="svc", password=Secret("pw-1"),
                     sender_account="svc@corp.local", sender_name="KF")


def stored_oauth() -> Profile:
    return build_profile(OAUTH, SEED)


def problems_of(draft: ProfileDraft, stored: Profile = SEED) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        build_profile(draft, stored)
    return caught.value.problems


# -- a valid type-3 profile ------------------------------------------------------------------

def test_a_valid_oauth_draft_keeps_every_oauth_setting() -> None:
    profile = stored_oauth()
    assert profile.auth_type is AuthType.OAUTH
    assert profile.client_id == "client-1"
    assert profile.client_secret == Secret("cs-1")
    assert profile.token_endpoint == ENDPOINT
    assert profile.scope == "https://outlook.office365.com/.default"
    assert profile.audience == "api://smtp"
    assert profile.request_headers == (RequestHeader("X-Tenant", "corp"),)
    assert profile.password is None


def test_the_sasl_user_is_the_relay_username_else_the_sender() -> None:
    assert stored_oauth().sasl_user == "svc@corp.local"
    with_user = build_profile(replace(OAUTH, username="mailbox@corp.local"), SEED)
    assert with_user.sasl_user == "mailbox@corp.local"


def test_scope_audience_and_headers_are_optional() -> None:
    profile = build_profile(replace(OAUTH, scope=None, audience="", request_headers=()), SEED)
    assert profile.scope is None and profile.audience is None
    assert profile.request_headers is None


def test_required_oauth_fields_are_all_named_at_once() -> None:
    draft = replace(OAUTH, client_id=None, client_secret=None, token_endpoint=None)
    assert problems_of(draft) == ["ClientId is required", "TokenEndpoint is required"]
    # The secret is checked once everything else is valid: with nothing stored, it is named.
    assert problems_of(replace(OAUTH, client_secret=None)) == [
        "ClientSecret is required when RelayAuthenticationType is 3 (OAuth client "
        "credentials) and no client secret is stored"]


@pytest.mark.parametrize(("change", "field"), [
    ({"client_id": "id\r\nX: y"}, "ClientId"),
    ({"client_id": "x" * 257}, "ClientId"),
    ({"client_secret": Secret("a\nb")}, "ClientSecret"),
    ({"client_secret": Secret("s" * 4097)}, "ClientSecret"),
    ({"scope": "a\r\nb"}, "Scope"),
    ({"scope": "s" * 1025}, "Scope"),
    ({"audience": "a\x00"}, "Audience"),
    ({"username": "user\r\n"}, "RelayUsername"),
])
def test_bad_oauth_values_are_named(change: dict[str, Any], field: str) -> None:
    [problem] = problems_of(replace(OAUTH, **change))
    assert problem.startswith(field)
    assert "cs-1" not in problem and "a\nb" not in problem


# -- the token endpoint ----------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
    "HTTPS://Login.Example.COM:8443/token?api-version=2",
    "https://[2001:db8::1]/token",
    "https://bücher.example/token",
    "http://127.0.0.1:8080/token",
    "http://127.0.0.53/token",
    "http://localhost/token",
    "http://LOCALHOST./token",
    "http://[::1]:9000/token",
])
def test_accepted_token_endpoints(url: str) -> None:
    check_token_endpoint(url)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://login.example.com/token", "must be an https:// URL"),
    ("http://10.0.0.1/token", "must be an https:// URL"),
    ("http://[::2]/token", "must be an https:// URL"),
    ("ftp://login.example.com/token", "must be an https:// URL"),
    ("login.example.com/token", "must be an https:// URL"),
    ("https:///token", "must name a host"),
    ("https://user:pw@login.example.com/token", "must not contain a user name or password"),
    ("https://login.example.com/token#frag", "must not have a #fragment"),
    ("https://login.example.com:99999/token", "is not a valid URL"),
    ("https://login.example.com:port/token", "is not a valid URL"),
    ("https://[::1/token", "is not a valid URL"),
    ("https://bad_host.example/token", "has a host that"),
    ("https://login.example.com/to ken", "must not contain spaces"),
    ("https://login.example.com/\r\nX: y", "must not contain spaces or control characters"),
    ("https://e.example/" + "p" * 2048, "at most 2048"),
])
def test_refused_token_endpoints(url: str, reason: str) -> None:
    with pytest.raises(OAuthSettingError) as caught:
        check_token_endpoint(url)
    assert reason in str(caught.value)
    [problem] = problems_of(replace(OAUTH, token_endpoint=url))
    assert problem.startswith("TokenEndpoint ") and reason in problem


def test_loopback_hosts() -> None:
    assert all(is_loopback_host(h) for h in ("localhost", "127.0.0.1", "127.1.2.3", "::1"))
    assert not any(is_loopback_host(h) for h in ("localhost.example", "10.0.0.1", "::2",
                                                 "127.0.0.1.example"))


def test_endpoint_spelling_differences_are_the_same_destination() -> None:
    same = endpoint_destination("https://login.example.com/token")
    assert endpoint_destination("HTTPS://LOGIN.example.com:443/token") == same
    assert endpoint_destination("https://login.example.com./token") == same
    assert endpoint_destination("https://login.example.com:444/token") != same
    assert endpoint_destination("https://login.example.com/token?x=1") != same
    assert endpoint_destination("http://login.example.com/token") != same


# -- request headers ---------------------------------------------------------------------------

def header_problems(*headers: tuple[str, str]) -> list[str]:
    draft = replace(OAUTH, request_headers=tuple(RequestHeader(n, v) for n, v in headers))
    return problems_of(draft)


def test_header_names_must_be_tokens_and_values_printable() -> None:
    assert header_problems(("", "v")) == ["RequestHeaders[0].Name is required"]
    assert header_problems(("X Bad", "v"))[0].startswith("RequestHeaders[0].Name must be an HTTP")
    assert header_problems(("X-Bad:", "v"))[0].startswith("RequestHeaders[0].Name must be")
    assert header_problems(("X-A", "ok"), ("X-B", "v\r\nInjected: 1")) == [
        "RequestHeaders[1].Value must be printable ASCII, without line breaks or other "
        "control characters"]
    assert header_problems(("X-A", "caf\u00e9"))[0].startswith("RequestHeaders[0].Value")
    assert header_problems(("X-A", "v" * 1025))[0].startswith("RequestHeaders[0].Value must be")


@pytest.mark.parametrize("name", ["Host", "content-type", "Content-Length",
                                  "Transfer-Encoding", "Connection"])
def test_headers_that_frame_or_route_the_request_are_refused(name: str) -> None:
    [problem] = header_problems((name, "x"))
    assert problem == f"RequestHeaders[0].Name {name!r} is set by this service and cannot be " \
                      "replaced"


@pytest.mark.parametrize("name", ["Authorization", "proxy-authorization", "Cookie"])
def test_credential_headers_are_refused(name: str) -> None:
    [problem] = header_problems((name, "Basic c2VjcmV0"))
    assert "would carry a credential" in problem and "stored and returned in clear" in problem


def test_duplicate_and_too_many_headers() -> None:
    assert header_problems(("X-A", "1"), ("x-a", "2")) == [
        "RequestHeaders[1].Name 'x-a' appears more than once"]
    many = [(f"X-H{i}", "v") for i in range(MAX_REQUEST_HEADERS + 1)]
    assert header_problems(*many) == [
        f"RequestHeaders must have at most {MAX_REQUEST_HEADERS} items"]
    ok = build_profile(replace(OAUTH, request_headers=tuple(
        RequestHeader(n, v) for n, v in many[:MAX_REQUEST_HEADERS])), SEED)
    assert ok.request_headers is not None
    assert len(ok.request_headers) == MAX_REQUEST_HEADERS


def test_an_empty_header_value_is_allowed() -> None:
    profile = build_profile(replace(OAUTH, request_headers=(RequestHeader("X-Empty", ""),)),
                            SEED)
    assert profile.request_headers == (RequestHeader("X-Empty", ""),)


# -- the client secret: kept for its destination only ---------------------------------------

def test_absent_client_secret_is_reused_for_the_same_destination() -> None:
    profile = build_profile(
        replace(OAUTH, client_secret=None, sender_name="Other", scope="other-scope",
                audience=None, request_headers=None, username="box@corp.local",
                token_endpoint="HTTPS://login.example.com:443/tenant/oauth2/v2.0/token"),
        stored_oauth())
    assert profile.client_secret == Secret("cs-1")
    assert profile.scope == "other-scope"


@pytest.mark.parametrize(("change", "field"), [
    ({"token_endpoint": "https://evil.example/token"}, "TokenEndpoint"),
    ({"token_endpoint": ENDPOINT + "?x=1"}, "TokenEndpoint"),
    ({"client_id": "client-2"}, "ClientId"),
    ({"host": "other.example.com"}, "Host"),
    ({"port": 465}, "Port"),
    ({"use_ssl": False}, "UseSSL"),
])
def test_destination_change_requires_the_client_secret(change: dict[str, Any],
                                                       field: str) -> None:
    with pytest.raises(DomainError) as caught:
        build_profile(replace(OAUTH, client_secret=None, **change), stored_oauth())
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    assert caught.value.message.startswith(f"ClientSecret must be re-entered because {field}")
    assert "cs-1" not in caught.value.message


def test_a_new_client_secret_may_go_anywhere() -> None:
    profile = build_profile(replace(OAUTH, token_endpoint="https://other.example/token",
                                    client_secret=Secret("cs-2")), stored_oauth())
    assert profile.client_secret == Secret("cs-2")


def test_a_password_is_never_taken_for_a_client_secret() -> None:
    basic = build_profile(BASIC, SEED)
    with pytest.raises(ValidationFailed) as caught:
        build_profile(replace(OAUTH, client_secret=None), basic)
    assert "ClientSecret is required" in caught.value.problems[0]


def test_switching_away_from_oauth_erases_its_settings() -> None:
    basic = build_profile(replace(BASIC, client_id="c", token_endpoint=ENDPOINT), stored_oauth())
    assert basic.client_secret is None and basic.client_id is None
    assert basic.token_endpoint is None and basic.request_headers is None
    assert basic.password == Secret("pw-1")
    anonymous = build_profile(replace(OAUTH, auth_type=0, username="svc"), stored_oauth())
    assert anonymous.client_secret is None and anonymous.client_id is None
    assert anonymous.scope is None and anonymous.audience is None
    assert anonymous.username is None and anonymous.password is None
    # ...and the erased secret is not found again by switching back.
    with pytest.raises(ValidationFailed):
        build_profile(replace(OAUTH, client_secret=None), anonymous)


def test_switching_to_oauth_drops_the_password() -> None:
    oauth = build_profile(replace(OAUTH, password=Secret("pw-1")), build_profile(BASIC, SEED))
    assert oauth.password is None and oauth.client_secret == Secret("cs-1")


# -- version 1: cannot carry OAuth settings, must not drop them ---------------------------

V1_OAUTH = ProfileDraft(host="smtp.example.com", port=587, auth_type=3, use_ssl=True,
                        sender_account="svc@corp.local", sender_name="Renamed",
                        carries_oauth=False)


def test_a_version_1_draft_of_type_3_keeps_the_stored_oauth_settings() -> None:
    stored = stored_oauth()
    profile = build_replacement(V1_OAUTH, stored)
    assert profile.sender_name == "Renamed"
    assert (profile.client_id, profile.token_endpoint, profile.scope, profile.audience,
            profile.request_headers, profile.client_secret) == (
        stored.client_id, stored.token_endpoint, stored.scope, stored.audience,
        stored.request_headers, stored.client_secret)


def test_a_version_1_draft_ignores_oauth_values_it_could_not_have_sent() -> None:
    smuggled = replace(V1_OAUTH, token_endpoint="https://evil.example/token",
                       client_id="other")
    profile = build_profile(smuggled, stored_oauth())
    assert profile.token_endpoint == ENDPOINT and profile.client_id == "client-1"


def test_a_version_1_draft_cannot_move_the_client_secret_to_another_relay() -> None:
    with pytest.raises(DomainError) as caught:
        build_replacement(replace(V1_OAUTH, host="other.example.com"), stored_oauth())
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    assert "x-keyfactor-api-version: 2" in caught.value.message


def test_a_version_1_draft_cannot_start_oauth() -> None:
    for stored in (SEED, build_profile(BASIC, SEED)):
        with pytest.raises(ValidationFailed) as caught:
            build_profile(V1_OAUTH, stored)
        assert "only version 2 of the API carries" in caught.value.problems[0]


@pytest.mark.parametrize("auth_type", [None, 0, 2])
def test_a_version_1_put_cannot_switch_a_type_3_profile_away(auth_type: int | None) -> None:
    draft = replace(V1_OAUTH, auth_type=auth_type, username="svc", password=Secret("pw"))
    with pytest.raises(ValidationFailed) as caught:
        build_replacement(draft, stored_oauth())
    [problem] = caught.value.problems
    assert problem.startswith("RelayAuthenticationType: the stored profile uses 3")
    assert "x-keyfactor-api-version: 2" in problem


def test_a_version_1_test_of_another_type_is_not_a_replacement() -> None:
    """Test stores nothing, so testing Basic settings leaves the OAuth profile alone."""
    draft = replace(V1_OAUTH, auth_type=2, username="svc", password=Secret("pw"))
    assert build_profile(draft, stored_oauth()).auth_type is AuthType.BASIC


def test_version_2_may_switch_a_type_3_profile_away() -> None:
    assert build_replacement(BASIC, stored_oauth()).auth_type is AuthType.BASIC


def test_oauth_secrets_do_not_print() -> None:
    profile = stored_oauth()
    for text in (repr(profile), repr(OAUTH), str(profile)):
        assert "cs-1" not in text
