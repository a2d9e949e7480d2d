"""The service account key file, its binding rule and the assertion's claims: pure rules."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.profile import (
    AuthType,
    Profile,
    ProfileDraft,
    build_profile,
    with_service_account,
)
from smtp_profile.domain.relay_options import DEFAULT_TRUST, RelayOptions, TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.service_account import (
    ASSERTION_LIFETIME_SECONDS,
    RelayBinding,
    ServiceAccount,
    assertion_claims,
    parse_key_file,
)
from smtp_profile.oauth.jwt_bearer import signed_assertion
from smtp_profile.oauth.token import TokenRequest
from tests.support.google import private_pem, rsa_key

TOKEN_URI = "https://oauth2.googleapis.com/token"


def key_file(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "service_account", "project_id": "p", "private_key_id": "abc123",
        "private_key": private_pem(rsa_key()), "client_id": "1234567890",
        "client_email": "mailer@p.iam.gserviceaccount.com", "token_uri": TOKEN_URI}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def account() -> ServiceAccount:
    return ServiceAccount(parse_key_file(json.dumps(key_file())),
                          RelayBinding("smtp.gmail.com", 587, True), DEFAULT_TRUST)


def problems(**overrides: Any) -> str:
    with pytest.raises(ValidationFailed) as refused:
        parse_key_file(json.dumps(key_file(**overrides)))
    return refused.value.message


def test_a_key_file_is_read_and_its_private_key_is_a_secret() -> None:
    key = parse_key_file(json.dumps(key_file()))
    assert (key.client_email, key.private_key_id, key.client_id, key.token_uri) == (
        "mailer@p.iam.gserviceaccount.com", "abc123", "1234567890", TOKEN_URI)
    assert "PRIVATE" not in repr(key) and isinstance(key.private_key, Secret)
    assert parse_key_file(json.dumps(key_file(token_uri=None))).token_uri == TOKEN_URI


def test_what_is_not_a_service_account_key_is_refused_by_name() -> None:
    assert '"type" must be "service_account"' in problems(type="authorized_user")
    assert '"client_email" is required' in problems(client_email=None)
    assert '"private_key_id" must be' in problems(private_key_id="a b")
    assert '"token_uri" must be an https:// URL' in problems(
        token_uri="http://accounts.example/token")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
    assert "must be an RSA key" in problems(private_key=ec_pem)
    message = problems(private_key="-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END "
                       "PRIVATE KEY-----")
    assert "not an unencrypted PEM private key" in message and "MIIsecret" not in message
    with pytest.raises(ValidationFailed, match="appears twice"):
        parse_key_file('{"type": "service_account", "type": "service_account"}')
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        parse_key_file("{")
    with pytest.raises(ValidationFailed, match="JSON object"):
        parse_key_file("[]")


def test_the_assertion_has_rfc_7523_claims_and_the_keys_kid() -> None:
    key = parse_key_file(json.dumps(key_file()))
    claims = assertion_claims(key, "svc@corp.example", "https://mail.google.com/", 1000)
    assert claims == {"iss": "mailer@p.iam.gserviceaccount.com", "sub": "svc@corp.example",
                      "scope": "https://mail.google.com/", "aud": TOKEN_URI, "iat": 1000,
                      "exp": 1000 + ASSERTION_LIFETIME_SECONDS}
    assert ASSERTION_LIFETIME_SECONDS <= 3600
    token = signed_assertion(key, "svc@corp.example", "https://mail.google.com/")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "abc123", "typ": "JWT"}
    decoded = jwt.decode(token, rsa_key().public_key(), algorithms=["RS256"],
                         audience=TOKEN_URI)
    assert decoded["sub"] == "svc@corp.example"


def oauth_draft(**overrides: Any) -> ProfileDraft:
    values: dict[str, Any] = {
        "host": "smtp.gmail.com", "port": 587, "use_ssl": True, "auth_type": 3,
        "sender_account": "svc@corp.example", "sender_name": "KF",
        "client_id": "1234567890", "token_endpoint": "HTTPS://OAuth2.googleapis.com:443/token"}
    values.update(overrides)
    return ProfileDraft(**values)


def test_a_type_3_profile_naming_the_key_needs_no_client_secret() -> None:
    stored = Profile()
    profile = build_profile(oauth_draft(), stored, service_account=account())
    assert profile.client_secret is None  # spelling of the endpoint does not matter
    used = with_service_account(profile, account(), DEFAULT_TRUST)
    assert used.service_account == account()
    request = TokenRequest.for_profile(used)
    assert request.grant == "jwt-bearer" and request.subject == "svc@corp.example"
    assert request.scope == "https://mail.google.com/"
    # RelayUsername, when set, is the mailbox: the token is for whom XOAUTH2 names.
    aliased = with_service_account(build_profile(oauth_draft(username="alias@corp.example"),
                                                 stored, service_account=account()),
                                   account(), DEFAULT_TRUST)
    assert TokenRequest.for_profile(aliased).subject == "alias@corp.example"


def test_the_key_is_bound_to_its_relay_endpoint_client_and_trust() -> None:
    stored = Profile()
    for change, field in (({"host": "smtp.evil.example"}, "Host"), ({"port": 465}, "Port")):
        with pytest.raises(DomainError) as refused:
            build_profile(oauth_draft(**change), stored, service_account=account())
        assert refused.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
        assert f"{field} changed" in refused.value.message
    # Another endpoint or client id does not name the key: a client secret is needed.
    for change in ({"token_endpoint": "https://login.example/token"},
                   {"client_id": "other"}):
        with pytest.raises(ValidationFailed, match="ClientSecret is required"):
            build_profile(oauth_draft(**change), stored, service_account=account())
    with pytest.raises(ValidationFailed, match="ClientSecret must be empty"):
        build_profile(oauth_draft(client_secret=Secret("x")), stored,
                      service_account=account())
    profile = build_profile(oauth_draft(), stored, service_account=account())
    insecure = TrustBinding.of(RelayOptions(insecure=True))
    with pytest.raises(DomainError, match="Insecure changed"):
        with_service_account(profile, account(), insecure)
    with pytest.raises(ValidationFailed, match="no service account key"):
        with_service_account(profile, None, DEFAULT_TRUST)
    anonymous = Profile(host="smtp.gmail.com", auth_type=AuthType.ANONYMOUS)
    assert with_service_account(anonymous, account(), DEFAULT_TRUST) is anonymous


@pytest.mark.parametrize(("error", "words"), [
    ("invalid_grant", "clock"), ("unauthorized_client", "Domain-wide delegation"),
    ("invalid_client", "does not know this service account"),
    ("access_denied", "policy denied"), ("invalid_scope", "https://mail.google.com/")])
def test_googles_token_errors_get_their_hints(error: str, words: str) -> None:
    from smtp_profile.oauth.token import _refusal

    used = with_service_account(build_profile(oauth_draft(), Profile(),
                                              service_account=account()),
                                account(), DEFAULT_TRUST)
    failure = _refusal(400, {"error": error, "error_description": "x"}, None,
                       TokenRequest.for_profile(used), {})
    assert failure.hint is not None and words in failure.hint
    # The same code from another identity provider keeps the generic hint.
    generic = _refusal(400, {"error": error}, None, TokenRequest(
        "https://login.example/token", "c", Secret("s")), {})
    assert generic.hint is None or "Google" not in generic.hint
