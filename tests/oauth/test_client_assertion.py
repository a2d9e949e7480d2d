"""private_key_jwt against a real token endpoint on loopback that verifies the assertion's
signature with the uploaded certificate (tests/support/assertion_endpoint.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from smtp_profile.domain.oauth_credential import (
    CertificateCredential,
    CertificateUpload,
    CredentialBinding,
    parse_certificate,
)
from smtp_profile.domain.secrets import Secret
from smtp_profile.oauth.assertion import ASSERTION_TYPE, sign_assertion
from smtp_profile.oauth.token import TokenFailure, TokenRequest
from tests.oauth.test_token_client import client
from tests.support.assertion_endpoint import (
    AppRegistration,
    AssertionTokenEndpoint,
    ClientCertificate,
    make_certificate,
)

SCOPE = "https://outlook.office365.com/.default"


@pytest.fixture(scope="module")
def certificate() -> ClientCertificate:
    return make_certificate()


@pytest.fixture
def endpoint() -> Iterator[AssertionTokenEndpoint]:
    target = AssertionTokenEndpoint(AppRegistration(client_id="client-1", scope=SCOPE,
                                                    tokens=["token-1", "token-2"]))
    yield target
    target.close()


def credential(cert: ClientCertificate, endpoint: str, **upload: Any) -> CertificateCredential:
    return parse_certificate(
        CertificateUpload(certificate_pem=cert.cert_pem, private_key_pem=Secret(cert.key_pem),
                          **upload),
        CredentialBinding(endpoint, "client-1", "smtp.example.com", 587, True),
        datetime.now(UTC))


def request(target: AssertionTokenEndpoint, cred: CertificateCredential) -> TokenRequest:
    return TokenRequest(endpoint=target.url, client_id="client-1", scope=SCOPE,
                        certificate=cred)


def test_a_signed_assertion_buys_a_token(endpoint: AssertionTokenEndpoint,
                                         certificate: ClientCertificate) -> None:
    endpoint.issuer.upload(certificate.cert_pem)
    cred = credential(certificate, endpoint.url)
    token = asyncio.run(client().get(request(endpoint, cred)))
    assert token.value == Secret("token-1")
    [call] = endpoint.calls
    assert set(call.form) == {"grant_type", "client_id", "client_assertion_type",
                              "client_assertion", "scope"}
    assert call.field("client_assertion_type") == ASSERTION_TYPE
    [accepted] = endpoint.issuer.accepted_assertions
    header, claims = accepted["header"], accepted["claims"]
    assert header["alg"] == "PS256" and header["typ"] == "JWT"
    assert header["x5t#S256"] == cred.x5t_s256 and header["x5t"] == cred.x5t
    assert "kid" not in header
    assert claims["iss"] == claims["sub"] == "client-1"
    assert claims["aud"] == endpoint.url
    assert claims["nbf"] == claims["iat"] and 0 < claims["exp"] - claims["nbf"] <= 300


def test_rs256_and_es256_are_verified_too(endpoint: AssertionTokenEndpoint) -> None:
    for cert, algorithm in ((make_certificate(kind="ec"), None),
                            (make_certificate(), "RS256")):
        endpoint.issuer.upload(cert.cert_pem)
        cred = credential(cert, endpoint.url, algorithm=algorithm)
        asyncio.run(client().get(request(endpoint, cred)))
        assert endpoint.issuer.accepted_assertions[-1]["header"]["alg"] == cred.algorithm


def test_an_unknown_certificate_fails_with_a_hint_then_succeeds_once_uploaded(
        endpoint: AssertionTokenEndpoint, certificate: ClientCertificate) -> None:
    cred = credential(certificate, endpoint.url)
    tokens = client()
    with pytest.raises(TokenFailure) as caught:
        asyncio.run(tokens.get(request(endpoint, cred)))
    failure = caught.value
    assert "invalid_client" in failure.message and "AADSTS700027" in failure.message
    assert failure.hint is not None and "Certificates & secrets > Certificates" in failure.hint
    assert failure.details["x5t#S256"] == cred.x5t_s256
    assert failure.details["client_authentication"] == "private_key_jwt"
    endpoint.issuer.upload(certificate.cert_pem)
    assert asyncio.run(tokens.get(request(endpoint, cred))).value == Secret("token-1")


def test_the_cache_is_keyed_by_the_credential(endpoint: AssertionTokenEndpoint,
                                              certificate: ClientCertificate) -> None:
    other = make_certificate(kind="ec")
    for cert in (certificate, other):
        endpoint.issuer.upload(cert.cert_pem)
    tokens = client()
    first = asyncio.run(tokens.get(request(endpoint, credential(certificate, endpoint.url))))
    again = asyncio.run(tokens.get(request(endpoint, credential(certificate, endpoint.url))))
    changed = asyncio.run(tokens.get(request(endpoint, credential(other, endpoint.url))))
    assert (first.from_cache, again.from_cache, changed.from_cache) == (False, True, False)
    assert changed.value == Secret("token-2")
    secret = TokenRequest(endpoint=endpoint.url, client_id="client-1", scope=SCOPE,
                          client_secret=Secret("x"))
    assert tokens.cache.key(secret.identity()) != tokens.cache.key(
        request(endpoint, credential(certificate, endpoint.url)).identity())


def post(endpoint: AssertionTokenEndpoint, assertion: str) -> httpx.Response:
    return httpx.post(endpoint.url, data={
        "grant_type": "client_credentials", "client_id": "client-1", "scope": SCOPE,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


def test_the_endpoint_refuses_replays_wrong_audience_and_expired_assertions(
        endpoint: AssertionTokenEndpoint, certificate: ClientCertificate) -> None:
    """The stand-in really checks what Entra ID checks, so the tests above can fail."""
    endpoint.issuer.upload(certificate.cert_pem)
    cred = credential(certificate, endpoint.url)
    signed = sign_assertion(cred, client_id="client-1", audience=endpoint.url).value.reveal()
    assert post(endpoint, signed).status_code == 200
    replay = post(endpoint, signed)
    assert replay.status_code == 401 and "jti replayed" in replay.json()["error_description"]
    elsewhere = sign_assertion(cred, client_id="client-1",
                               audience="https://login.example.com/other/token")
    assert "AADSTS7000274" in post(endpoint, elsewhere.value.reveal()).json()[
        "error_description"]
    stale = sign_assertion(cred, client_id="client-1", audience=endpoint.url,
                           clock=lambda: time.time() - 3600)
    assert "AADSTS700024" in post(endpoint, stale.value.reveal()).json()["error_description"]
    forged = jwt.encode({"iss": "client-1"}, make_certificate(kind="ec").key,
                        algorithm="ES256", headers={"x5t#S256": cred.x5t_s256})
    assert "AADSTS700027" in post(endpoint, forged).json()["error_description"]


def test_entra_codes_map_to_hints(endpoint: AssertionTokenEndpoint,
                                  certificate: ClientCertificate) -> None:
    from smtp_profile.oauth.refusal_hints import refusal_hint

    assert "clock" in (refusal_hint("invalid_client", "AADSTS700024: ...", assertion=True)
                       or "")
    assert "v2.0 token URL" in (refusal_hint("invalid_client", "AADSTS7000274: x",
                                             assertion=True) or "")
    assert "uploaded" in (refusal_hint("invalid_client", "AADSTS50012: x", assertion=True)
                          or "")
    assert "expired" in (refusal_hint("invalid_client", "AADSTS7000222: x", assertion=False)
                         or "")
    assert refusal_hint("invalid_client", "no code", assertion=False) is None
    assert "Upload certificate" in (refusal_hint("invalid_client", None, assertion=True)
                                    or "")


def test_a_bound_certificate_is_used_instead_of_a_stored_client_secret(
        certificate: ClientCertificate) -> None:
    from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile

    url = "https://login.example.com/t/oauth2/v2.0/token"
    profile = build_profile(ProfileDraft(
        host="smtp.example.com", port=587, auth_type=3, use_ssl=True,
        sender_account="svc@corp.local", sender_name="KF", client_id="client-1",
        client_secret=Secret("stored-secret"), token_endpoint=url), Profile())
    cred = credential(certificate, url)
    chosen = TokenRequest.for_profile(profile, cred)
    assert chosen.certificate is cred and chosen.client_secret is None
    assert "client_secret" not in chosen.form(chosen.sign())
    elsewhere = credential(certificate, "https://login.example.com/other/token")
    assert TokenRequest.for_profile(profile, elsewhere).client_secret == Secret("stored-secret")
