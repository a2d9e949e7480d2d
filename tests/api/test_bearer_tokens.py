"""Bearer tokens from an OpenID Connect identity provider, against a real provider
stand-in on loopback (tests/support/identity.py: discovery, JWKS, real keys, tokens
signed by PyJWT). Every refusal is followed by a success on the same instance."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from smtp_profile.identity.provider import OidcProvider
from tests.support.identity import AUDIENCE, CLIENT, IdentityProvider, ServedProvider, new_key
from tests.support.service import (
    REQUESTED_WITH,
    RunningService,
    service_settings,
    start_service,
)

API = "/KeyfactorAPI/SMTP"
AUDIT = "/KeyfactorAPI/SMTP/Audit"
PROFILE = {"Host": "relay.corp.local", "Port": 587, "RelayAuthenticationType": 2,
           "RelayUsername": "svc", "RelayPassword": "relay-pw-1", "UseSSL": True,
           "SenderAccount": "pki@corp.local", "SenderName": "PKI"}


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    served = ServedProvider(provider)
    yield provider
    served.close()


@pytest.fixture
def start(tmp_path: Path, ca_bundle: Path,
          idp: IdentityProvider) -> Iterator[Callable[..., RunningService]]:
    services: list[RunningService] = []

    def make(**overrides: Any) -> RunningService:
        values: dict[str, Any] = {
            "oidc_issuer": idp.issuer, "oidc_audiences": f"{AUDIENCE},api://smtp-profile",
            "oidc_read_values": "smtp-reader,smtp-admin", "oidc_modify_values": "smtp-admin",
            "oidc_refetch_seconds": 0}
        values.update(overrides)
        service = start_service(service_settings(tmp_path / f"data{len(services)}",
                                                 ca_bundle, **values))
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


@pytest.fixture
def service(start: Callable[..., RunningService]) -> RunningService:
    return start()


def call(service: RunningService, token: str, method: str = "GET",
         body: dict[str, Any] | None = None) -> httpx.Response:
    headers = {**REQUESTED_WITH, "authorization": f"Bearer {token}"}
    with httpx.Client(base_url=service.url, timeout=30) as client:
        return client.request(method, API, headers=headers, json=body)


def refused(response: httpx.Response, reason: str) -> None:
    """A 401 in Keyfactor's error format whose Bearer challenge says `reason`."""
    assert response.status_code == 401, response.text
    assert response.json()["ErrorCode"] == "0xA0110010"
    challenge = response.headers["www-authenticate"]
    assert 'Bearer realm="smtp-profile", error="invalid_token"' in challenge
    assert reason in challenge and reason in response.json()["Message"]


def succeeds(service: RunningService, idp: IdentityProvider) -> None:
    response = call(service, idp.token())
    assert response.status_code == 200, response.text


def refusals(service: RunningService) -> list[dict[str, Any]]:
    with service.client() as client:
        response = client.get(AUDIT, params={"action": "FailedAuthentication"})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_a_good_token_reads_and_replaces_the_profile_beside_basic(
        service: RunningService, idp: IdentityProvider) -> None:
    put = call(service, idp.token(), "PUT", PROFILE)
    assert put.status_code == 200, put.text
    got = call(service, idp.token())
    assert got.status_code == 200
    assert got.json()["Host"] == "relay.corp.local"
    assert "RelayPassword" not in got.text or "relay-pw-1" not in got.text
    with service.client() as client:  # Basic keeps working beside bearer tokens
        assert client.get(API).json()["Host"] == "relay.corp.local"
    with service.client() as client:
        records = client.get(AUDIT, params={"action": "Put"}).json()
    assert records[0]["User"] == "svc-keyfactor"


def test_a_token_that_grants_only_read_may_read_not_replace(
        service: RunningService, idp: IdentityProvider) -> None:
    reader = idp.token(realm_access={"roles": ["smtp-reader"]})
    assert call(service, reader).status_code == 200
    put = call(service, reader, "PUT", PROFILE)
    assert put.status_code == 403, put.text
    assert "/system_settings/modify/" in put.json()["Message"]
    assert call(service, idp.token(), "PUT", PROFILE).status_code == 200


def test_a_valid_token_without_a_mapped_permission_is_forbidden(
        service: RunningService, idp: IdentityProvider) -> None:
    nobody = idp.token(realm_access={"roles": ["offline_access"]})
    response = call(service, nobody)
    assert response.status_code == 403, response.text
    assert response.json()["ErrorCode"] == "0xA0110011"
    succeeds(service, idp)


@pytest.mark.parametrize(("claims", "granted"), [
    ({"roles": ["smtp-admin"], "realm_access": None}, 200),  # Entra ID app roles
    ({"scope": "openid smtp-admin profile", "realm_access": None}, 200),  # scopes
    ({"scope": "openid smtp-admin-not", "realm_access": None}, 403),
])
def test_roles_and_scopes_grant_permissions(service: RunningService, idp: IdentityProvider,
                                            claims: dict[str, Any], granted: int) -> None:
    assert call(service, idp.token(**claims), "PUT", PROFILE).status_code == granted


def test_the_signing_key_rotates_after_start(service: RunningService,
                                             idp: IdentityProvider) -> None:
    succeeds(service, idp)
    old = idp.keys[-1]
    idp.rotate()
    assert call(service, idp.token()).status_code == 200  # the new kid: keys fetched again
    refused(call(service, idp.token(key=old)), "not published")  # the old key is gone
    succeeds(service, idp)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p.token(lifetime=-120), "expired"),
    (lambda p: p.token(not_before=__import__("time").time() + 600), "not valid yet"),
    (lambda p: p.token(iss="https://evil.example/realms/keyfactor"), "another issuer"),
    (lambda p: p.token(aud="account"), "another audience"),
    (lambda p: p.token(aud="https://other-service.corp.example"), "another audience"),
    (lambda p: p.token(aud=None), "lacks the aud claim"),
    (lambda p: p.token(key=new_key()), "not published"),  # unknown kid
    (lambda p: p.token(key=new_key(), headers={"kid": p.keys[-1].kid}),
     "signature does not verify"),  # a forger's key under the provider's kid
    (lambda p: p.token(key=new_key("ES256"), headers={"kid": p.keys[-1].kid}),
     "not the one its key is for"),
    (lambda p: "not-a-jwt", "not a well-formed JWT"),
])
def test_bad_tokens_are_refused_then_a_good_one_is_accepted(
        service: RunningService, idp: IdentityProvider,
        make: Callable[[IdentityProvider], str], reason: str) -> None:
    refused(call(service, make(idp)), reason)
    succeeds(service, idp)


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}."


def claims_of(idp: IdentityProvider) -> dict[str, Any]:
    token = idp.token()
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def test_alg_none_is_refused(service: RunningService, idp: IdentityProvider) -> None:
    token = unsigned(claims_of(idp), {"alg": "none", "typ": "JWT", "kid": idp.keys[-1].kid})
    refused(call(service, token), "algorithm is not accepted")
    succeeds(service, idp)


def test_hs256_signed_with_the_public_key_is_refused(service: RunningService,
                                                     idp: IdentityProvider) -> None:
    """Algorithm confusion: the attacker signs with HMAC, the public key as secret."""
    public_pem = idp.keys[-1].private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": idp.keys[-1].kid}
    signing_input = unsigned(claims_of(idp), header).rstrip(".")
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    refused(call(service, token), "algorithm is not accepted")
    succeeds(service, idp)


def test_unknown_kids_fetch_the_keys_at_most_once_per_interval(
        start: Callable[..., RunningService], idp: IdentityProvider) -> None:
    service = start(oidc_refetch_seconds=3600)
    succeeds(service, idp)
    fetched = idp.jwks_requests()
    for _ in range(5):
        refused(call(service, idp.token(key=new_key())), "not published")
    assert idp.jwks_requests() == fetched  # made-up kids do not hammer the provider
    succeeds(service, idp)


def test_an_unreachable_provider_is_a_503_then_tokens_work_again(
        service: RunningService, idp: IdentityProvider) -> None:
    idp.down = True
    response = call(service, idp.token())
    assert response.status_code == 503, response.text
    assert response.json()["ErrorCode"] == "0xA0110024"
    assert "identity provider" in response.json()["Message"]
    assert int(response.headers["retry-after"]) >= 1
    idp.down = False
    succeeds(service, idp)


def test_refusals_are_audited_with_subject_and_client_never_the_token(
        service: RunningService, idp: IdentityProvider) -> None:
    expired = idp.token(lifetime=-120, sub="subject-42", azp="cli-7")
    refused(call(service, expired), "expired")
    records = refusals(service)
    assert records[0]["User"] == "subject-42"
    assert "cli-7" in records[0]["Detail"] and "bearer GET" in records[0]["Detail"]
    assert expired not in json.dumps(records)
    assert expired.split(".")[2] not in json.dumps(records)
    succeeds(service, idp)


def test_bad_tokens_from_one_address_are_throttled(service: RunningService,
                                                   idp: IdentityProvider) -> None:
    statuses = [call(service, idp.token(lifetime=-120)).status_code for _ in range(14)]
    assert statuses[:10] == [401] * 10
    assert 429 in statuses
    throttled = call(service, idp.token(lifetime=-120))
    assert throttled.status_code == 429 and "retry-after" in throttled.headers
    succeeds(service, idp)  # a valid token cannot be guessed: never held back


def test_basic_switched_off_refuses_passwords_and_challenges_for_bearer(
        start: Callable[..., RunningService], idp: IdentityProvider) -> None:
    service = start(basic_auth=False)
    with service.client() as client:
        response = client.get(API)
    assert response.status_code == 401
    assert "switched off" in response.json()["Message"]
    assert response.headers["www-authenticate"] == 'Bearer realm="smtp-profile"'
    succeeds(service, idp)


def test_basic_switched_off_holds_on_the_fast_read_after_a_page_sign_in(
        start: Callable[..., RunningService], idp: IdentityProvider) -> None:
    """The page's sign-in remembers a right password; Basic must still not get in."""
    service = start(basic_auth=False)
    page = {"x-keyfactor-requested-with": "XMLHttpRequest"}
    with httpx.Client(base_url=service.url, timeout=30) as browser:
        signed_in = browser.post("/web/session", headers=page, json={
            "UserName": "admin", "Password": service.admin_password})
        assert signed_in.status_code == 200, signed_in.text
    for _ in range(3):
        with service.client() as client:
            assert client.get(API).status_code == 401
    succeeds(service, idp)


def test_without_a_provider_bearer_tokens_are_not_accepted(
        tmp_path: Path, ca_bundle: Path, idp: IdentityProvider) -> None:
    service = start_service(service_settings(tmp_path / "data", ca_bundle))
    try:
        response = call(service, idp.token())
        assert response.status_code == 401
        assert "Bearer" not in response.headers["www-authenticate"]
        with service.client() as client:
            assert client.get(API).status_code == 200
    finally:
        service.stop()


def test_a_token_naming_no_user_is_refused(service: RunningService,
                                           idp: IdentityProvider) -> None:
    refused(call(service, idp.token(preferred_username=None, sub=None)), "names no user")
    succeeds(service, idp)


def test_the_published_python_client_signs_in_with_a_bearer_token(
        service: RunningService, idp: IdentityProvider) -> None:
    from keyfactor_v_1_client.api.smtp import smtp_smtp
    from keyfactor_v_1_client.client import AuthenticatedClient

    client = AuthenticatedClient(base_url=service.url + "/KeyfactorAPI", token=idp.token())
    answer = smtp_smtp.sync_detailed(client=client)
    assert answer.status_code == 200, answer.content
    assert answer.parsed is not None
    denied = AuthenticatedClient(base_url=service.url + "/KeyfactorAPI",
                                 token=idp.token(aud="other"))
    assert smtp_smtp.sync_detailed(client=denied).status_code == 401
    assert smtp_smtp.sync_detailed(client=client).status_code == 200
    assert CLIENT


def test_a_provider_served_over_https_is_trusted_through_the_ca_bundle(
        tmp_path: Path, ca_bundle: Path, server_context: ssl.SSLContext) -> None:
    provider = IdentityProvider()
    served = ServedProvider(provider, server_context)
    values = {"oidc_audiences": AUDIENCE, "oidc_modify_values": "smtp-admin",
              "oidc_read_values": "smtp-admin"}
    untrusting = start_service(service_settings(tmp_path / "a", None, oidc_issuer=provider.issuer,
                                                **values))
    trusting = start_service(service_settings(tmp_path / "b", ca_bundle,
                                              oidc_issuer=provider.issuer, **values))
    try:
        assert provider.issuer.startswith("https://localhost:")
        answer = call(untrusting, provider.token())
        assert answer.status_code == 503, answer.text  # an unknown CA: never trusted
        assert "ConnectError" in answer.json()["Message"]
        assert call(trusting, provider.token()).status_code == 200
    finally:
        untrusting.stop()
        trusting.stop()
        served.close()


def test_a_burst_of_tokens_after_rotation_fetches_the_keys_once(
        service: RunningService, idp: IdentityProvider) -> None:
    """Even with no interval between fetches, concurrent requests share one fetch."""
    succeeds(service, idp)
    before = idp.jwks_requests()
    idp.rotate()
    token = idp.token()

    async def burst() -> list[int]:
        headers = {**REQUESTED_WITH, "authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            answers = await asyncio.gather(*(client.get(API, headers=headers)
                                             for _ in range(20)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(burst()) == [200] * 20
    assert idp.jwks_requests() == before + 1


def test_a_client_built_like_go_sdk_2_in_oauth_mode_reads_and_writes(
        service: RunningService, idp: IdentityProvider) -> None:
    """keyfactor-auth-client-go's OAuth mode: Status/Endpoints first with the bearer token
    (the client is only built on a 200 holding a JSON array of strings), then the
    generated SDK's GET and PUT /SMTP with the same token; a refused token builds none."""
    go_headers = {"Content-Type": "application/json", "Accept": "application/json",
                  "x-keyfactor-api-version": "1", "x-keyfactor-requested-with": "APIClient"}
    with httpx.Client(base_url=service.url + "/KeyfactorAPI", timeout=30) as client:
        expired = client.get("/Status/Endpoints", headers={
            **go_headers, "Authorization": f"Bearer {idp.token(lifetime=-120)}"})
        assert expired.status_code == 401
        assert json.loads(expired.content)["ErrorCode"] == "0xA0110010"
        client.headers["Authorization"] = f"Bearer {idp.token()}"
        answer = client.get("/Status/Endpoints", headers=go_headers)
        assert answer.status_code == 200, answer.text
        endpoints = json.loads(answer.content)
        assert "GET /SMTP" in endpoints and "PUT /SMTP" in endpoints
        assert answer.headers["x-keyfactor-product-version"]
        body = {"Host": "smtp.corp.local", "Port": 587, "RelayAuthenticationType": 0,
                "SenderAccount": "pki@corp.local", "SenderName": "Keyfactor Command"}
        written = client.put("/SMTP", content=json.dumps(body), headers=go_headers)
        assert written.status_code == 200, written.text
        read = client.get("/SMTP", headers=go_headers)
        assert read.status_code == 200
        assert read.json()["Host"] == "smtp.corp.local"


def fast_counts(service: RunningService) -> Any:
    app = service.server.config.app
    assert isinstance(app, FastAPI)
    return app.state.fast_read


def test_a_warm_bearer_get_is_answered_without_a_signature_check(
        service: RunningService, idp: IdentityProvider) -> None:
    """After the first verification the fast path answers, from memory: the verifier
    is not asked again (its keys are not even looked at) while the token lasts."""
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
    token = idp.token()
    first = call(service, token)
    assert first.status_code == 200, first.text
    counts = fast_counts(service)
    answered = counts.answered
    memory = service.runtime.memory.bearer_tokens.stats
    hits = memory.hits
    again = call(service, token)
    assert again.status_code == 200
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert counts.answered == answered + 1  # the fast path answered it
    assert memory.hits == hits + 1          # from the memory of verified tokens
    # A token the memory does not know goes to the routes, which verify it.
    assert call(service, idp.token(sub="someone-else")).status_code == 200
    assert counts.answered == answered + 1


def test_a_remembered_token_is_refused_once_it_expires(
        service: RunningService, idp: IdentityProvider) -> None:
    """The memory keeps a token only until its own `exp`. With no leeway, a token that
    lives one second is refused right after it expired, though it was just answered
    from memory."""
    assert service.runtime.bearer is not None
    verifier = service.runtime.bearer._verifier
    assert isinstance(verifier, OidcProvider)
    verifier._rules = dataclasses.replace(verifier._rules, leeway=0)
    token = idp.token(lifetime=2)
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=" * 4))["exp"]
    assert call(service, token).status_code == 200
    assert call(service, token).status_code == 200  # remembered
    while time.time() < exp + 0.2:  # the token's real expiry: PyJWT reads the real clock
        time.sleep(0.1)
    refused(call(service, token), "expired")
    succeeds(service, idp)


def test_a_remembered_token_is_verified_again_once_its_key_is_withdrawn(
        service: RunningService, idp: IdentityProvider) -> None:
    old_token = idp.token()
    assert call(service, old_token).status_code == 200
    assert call(service, old_token).status_code == 200  # remembered
    idp.rotate()
    assert call(service, idp.token()).status_code == 200  # a new kid: the keys are fetched
    refused(call(service, old_token), "not published")  # its key is gone: not remembered
    succeeds(service, idp)
