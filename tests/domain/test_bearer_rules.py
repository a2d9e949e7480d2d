"""The pure rules of bearer tokens: which claims name the user, which grant permissions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smtp_profile.domain.bearer import (
    ACCEPTED_ALGORITHMS,
    ClaimMapping,
    check_provider_url,
    claim_at,
    claim_values,
    client_of,
    shown,
)
from smtp_profile.domain.permissions import Permission
from smtp_profile.settings import Settings

MAPPING = ClaimMapping(("preferred_username", "sub"), ("realm_access.roles", "roles", "scope"),
                       frozenset({"reader", "admin"}), frozenset({"admin"}))


def test_only_asymmetric_algorithms_are_accepted() -> None:
    assert "none" not in ACCEPTED_ALGORITHMS
    assert not any(name.startswith("HS") for name in ACCEPTED_ALGORITHMS)
    assert {"RS256", "PS256", "ES256"} <= set(ACCEPTED_ALGORITHMS)


@pytest.mark.parametrize(("claims", "granted"), [
    ({"realm_access": {"roles": ["admin"]}}, {Permission.READ, Permission.MODIFY}),
    ({"roles": ["reader"]}, {Permission.READ}),
    ({"scope": "openid reader profile"}, {Permission.READ}),
    ({"scope": "openid readers"}, set()),
    ({"realm_access": {"roles": "admin"}}, {Permission.READ, Permission.MODIFY}),
    ({"realm_access": ["admin"]}, set()),
    ({"roles": [1, None, {"admin": True}]}, set()),
    ({}, set()),
])
def test_claim_values_grant_permissions(claims: dict[str, object],
                                        granted: set[Permission]) -> None:
    assert MAPPING.permissions(claims) == granted


def test_the_first_user_claim_present_names_the_user() -> None:
    assert MAPPING.user({"preferred_username": "alice", "sub": "x"}) == "alice"
    assert MAPPING.user({"preferred_username": " ", "sub": "x"}) == "x"
    assert MAPPING.user({"preferred_username": 7}) is None


def test_a_claim_name_with_dots_is_read_whole_before_as_a_path() -> None:
    role_uri = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    assert claim_at({role_uri: ["admin"]}, role_uri) == ["admin"]
    assert claim_at({"a": {"b": {"c": 1}}}, "a.b.c") == 1
    assert claim_at({"a": {"b": 1}}, "a.b.c") is None
    assert claim_values(None) == frozenset()


def test_the_client_is_named_by_azp_client_id_or_appid() -> None:
    assert client_of({"appid": "app", "client_id": "cid"}) == "cid"
    assert client_of({"azp": "web"}) == "web"
    assert client_of({"azp": ""}) is None


def test_shown_claims_are_bounded_and_printable() -> None:
    assert shown("a\nb") == "a?b"
    assert len(shown("x" * 10_000)) == 129


@pytest.mark.parametrize("url", ["https://idp.example/realms/k", "http://127.0.0.1:8080/x",
                                 "http://localhost/x", "http://[::1]:9/x"])
def test_provider_urls_are_https_or_loopback_http(url: str) -> None:
    assert check_provider_url(url) == url


@pytest.mark.parametrize("url", ["http://idp.example/realms/k", "ftp://127.0.0.1/",
                                 "idp.example", "http://10.0.0.1/"])
def test_other_provider_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        check_provider_url(url)


@pytest.mark.parametrize(("values", "problem"), [
    ({"oidc_issuer": "http://idp.example/"}, "https"),
    ({"oidc_issuer": "https://idp.example/", "oidc_read_values": "r"}, "--oidc-audiences"),
    ({"oidc_issuer": "https://idp.example/", "oidc_audiences": "a"}, "--oidc-read-values"),
])
def test_an_incomplete_provider_setting_stops_the_start(values: dict[str, str],
                                                        problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(**values)  # type: ignore[arg-type]


def test_settings_build_the_rules_and_the_mapping() -> None:
    settings = Settings(oidc_issuer="https://idp.example/realms/k",
                        oidc_audiences="a, b", oidc_modify_values="admin")
    assert settings.bearer_rules is not None
    assert settings.bearer_rules.audiences == ("a", "b")
    assert settings.claim_mapping.modify_values == {"admin"}
    assert Settings().bearer_rules is None
