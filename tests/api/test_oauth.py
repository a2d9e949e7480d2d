"""Type 3 (OAuth client credentials) through the real service: PUT, GET, Test, secrets.

The service talks to a real token endpoint on 127.0.0.1 and a real aiosmtpd relay that
accepts only the token the endpoint issues.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from smtp_profile.domain.secrets import Secret
from smtp_profile.mailer.xoauth2 import sasl_response
from tests.api.test_smtp_routes import V1_KEYS, V2_KEYS, error, stored
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, SmtpServer

SECRET = "OAuth-Client-Secret-Canary-3b8d"
TOKEN = "OAuth-Access-Token-Canary-77aa"
SCOPE = "https://outlook.office365.com/.default"
RECIPIENT = "pki-admin@corp.local"


def issuer(**overrides: Any) -> Issuer:
    values: dict[str, Any] = {"client_id": "client-1", "client_secret": SECRET, "scope": SCOPE,
                              "audience": "api://smtp", "tokens": [TOKEN],
                              "required_headers": {"X-Tenant": "corp"}}
    values.update(overrides)
    return Issuer(**values)


def oauth_body(relay: SmtpServer, endpoint: TokenEndpoint, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Host": "mail.test", "Port": relay.port, "UseSSL": True, "RelayAuthenticationType": 3,
        "SenderAccount": "svc@corp.local", "SenderName": "Keyfactor Command",
        "ClientId": {"SecretValue": "client-1"}, "ClientSecret": {"SecretValue": SECRET},
        "TokenEndpoint": endpoint.url, "Scope": SCOPE, "Audience": "api://smtp",
        "RequestHeaders": [{"Name": "X-Tenant", "Value": "corp"}],
    }
    body.update(overrides)
    return body


def without_secret(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "ClientSecret"}


def test_put_and_get_a_type_3_profile_in_both_versions(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    with service.client(version=2) as v2, service.client() as v1:
        put = v2.put("/KeyfactorAPI/SMTP", json=oauth_body(relay, endpoint))
        got = v2.get("/KeyfactorAPI/SMTP")
        got_v1 = v1.get("/KeyfactorAPI/SMTP")
    assert put.status_code == 200, put.text
    assert put.json() == got.json()
    body = got.json()
    assert list(body) == V2_KEYS
    assert body == {
        "Host": "mail.test", "Id": 1, "Port": relay.port, "RelayAuthenticationType": 3,
        "RelayUsername": None, "RelayPassword": None, "SenderAccount": "svc@corp.local",
        "SenderName": "Keyfactor Command", "UseSSL": True,
        "ClientId": {"SecretValue": "client-1", "Provider": None, "Parameters": None},
        "ClientSecret": None, "TokenEndpoint": endpoint.url, "Scope": SCOPE,
        "Audience": "api://smtp", "RequestHeaders": [{"Name": "X-Tenant", "Value": "corp"}],
    }
    assert list(got_v1.json()) == V1_KEYS
    assert got_v1.json()["RelayAuthenticationType"] == 3
    assert got_v1.json()["RelayUsername"] is None
    assert service.stored_profile().client_secret == Secret(SECRET)
    assert endpoint.calls == []  # a PUT stores; it does not fetch tokens


def test_v2_test_fetches_a_token_and_sends_with_xoauth2(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = token_endpoint(issuer(), tls=True)  # https, trusted through the CA bundle
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test",
                               json={**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT})
    assert response.status_code == 200, response.text
    assert response.content == b""
    [call] = endpoint.calls
    assert call.form == {"grant_type": ["client_credentials"], "client_id": ["client-1"],
                         "client_secret": [SECRET], "scope": [SCOPE],
                         "audience": ["api://smtp"]}
    assert call.headers["x-tenant"] == "corp"
    assert relay.behaviour.xoauth2_attempts == [("svc@corp.local", TOKEN)]
    [received] = relay.received
    assert received.login == "svc@corp.local" and received.tls
    assert response.headers["x-test-id"] in received.message["Subject"]


def test_the_token_is_reused_and_renewed_once_when_the_relay_refuses_it(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"token-a"})))
    endpoint = token_endpoint(issuer(tokens=["token-a", "token-b"]))
    test = {**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        for _ in range(2):
            assert client.post("/KeyfactorAPI/SMTP/Test", json=test).status_code == 200
        assert len(endpoint.calls) == 1
        relay.behaviour.xoauth2_tokens = frozenset({"token-b"})  # token-a revoked
        renewed = client.post("/KeyfactorAPI/SMTP/Test", json=test)
    assert renewed.status_code == 200, renewed.text
    assert len(endpoint.calls) == 2
    assert len(relay.received) == 3


def test_a_wrong_client_secret_fails_the_token_step(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = token_endpoint(issuer(client_secret="the-secret-the-idp-knows"))
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test",
                               json={**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT})
    message = error(response, 400, "0xA0110008")
    assert ("failed at step 'token': the token endpoint refused the request: invalid_client "
            "(AADSTS7000215: Invalid client secret provided.) (HTTP 401) (Microsoft 365 / "
            "Exchange Online: the client secret is wrong). Hint: The client secret is not one "
            "of the application's") in message
    assert SECRET not in message
    assert relay.behaviour.xoauth2_attempts == []


def test_a_token_the_relay_rejects_fails_the_auth_step(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"another-token"})))
    endpoint = token_endpoint(issuer())
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test",
                               json={**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT})
    message = error(response, 400, "0xA0110008")
    assert "failed at step 'AUTH': the server rejected the access token" in message
    assert "Server replied: 535 5.7.8" in message
    assert TOKEN not in message and relay.received == []


def test_no_token_is_fetched_for_a_plain_text_relay(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("plain", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = token_endpoint(issuer())
    with service.client(version=2) as client:
        response = client.post("/KeyfactorAPI/SMTP/Test", json={
            **oauth_body(relay, endpoint, UseSSL=False), "TestRecipient": RECIPIENT})
    message = error(response, 400, "0xA0110008")
    assert "failed at step 'AUTH': refusing to send an OAuth access token over an " \
           "unencrypted connection" in message
    assert "Set UseSSL" in message
    assert endpoint.calls == [] and relay.behaviour.xoauth2_attempts == []


# -- the stored client secret --------------------------------------------------------------

def test_the_stored_secret_serves_put_and_test_for_its_destination_only(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    other_relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint, rogue = token_endpoint(issuer()), token_endpoint(issuer())
    body = oauth_body(relay, endpoint)
    with service.client(version=2) as client:
        client.put("/KeyfactorAPI/SMTP", json=body).raise_for_status()
        kept = client.put("/KeyfactorAPI/SMTP", json={**without_secret(body),
                                                      "SenderName": "Renamed",
                                                      "ClientSecret": None})
        assert kept.status_code == 200, kept.text
        test = {**without_secret(body), "TestRecipient": RECIPIENT}
        assert client.post("/KeyfactorAPI/SMTP/Test", json=test).status_code == 200
        before = stored(service)
        refused = [
            client.put("/KeyfactorAPI/SMTP", json={**without_secret(body),
                                                   "TokenEndpoint": rogue.url}),
            client.post("/KeyfactorAPI/SMTP/Test", json={**test, "TokenEndpoint": rogue.url}),
            client.post("/KeyfactorAPI/SMTP/Test", json={**test, "ClientId": {
                "SecretValue": "client-2"}}),
            client.post("/KeyfactorAPI/SMTP/Test", json={**test, "Port": other_relay.port}),
        ]
    messages = [error(r, 400, "0xA0110007") for r in refused]
    assert [m.split(" because ")[1].split(" changed")[0] for m in messages] == [
        "TokenEndpoint", "TokenEndpoint", "ClientId", "Port"]
    assert all(m.startswith("ClientSecret must be re-entered") for m in messages)
    assert stored(service) == before
    assert rogue.calls == [] and other_relay.behaviour.xoauth2_attempts == []
    assert len(endpoint.calls) == 1
    assert service.stored_profile().client_secret == Secret(SECRET)


def test_switching_to_another_type_erases_the_client_secret(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    body = oauth_body(relay, endpoint)
    with service.client(version=2) as client:
        client.put("/KeyfactorAPI/SMTP", json=body).raise_for_status()
        anonymous = client.put("/KeyfactorAPI/SMTP", json={**body, "RelayAuthenticationType": 0})
        assert anonymous.status_code == 200, anonymous.text
        assert anonymous.json()["ClientId"] is None
        assert anonymous.json()["TokenEndpoint"] is None
        assert service.stored_profile().client_secret is None
        message = error(client.put("/KeyfactorAPI/SMTP", json=without_secret(body)),
                        400, "0xA0110001")
    assert "ClientSecret is required" in message


@pytest.mark.parametrize(("change", "wording"), [
    ({"ClientId": None}, "ClientId is required"),
    ({"TokenEndpoint": None}, "TokenEndpoint is required"),
    ({"TokenEndpoint": "http://login.example.com/token"}, "TokenEndpoint must be an https://"),
    ({"TokenEndpoint": "https://u:p@login.example.com/token"}, "TokenEndpoint must not contain"),
    ({"Scope": "a\r\nb"}, "Scope must not contain line breaks"),
    ({"RequestHeaders": [{"Name": "Authorization", "Value": "Basic eA=="}]},
     "RequestHeaders[0].Name 'Authorization' would carry a credential"),
    ({"RequestHeaders": [{"Name": "X-A", "Value": "1\r\nHost: evil"}]},
     "RequestHeaders[0].Value must not contain line breaks"),
    ({"RequestHeaders": [{"Name": "X-A", "Value": "caf\u00e9"}]},
     "RequestHeaders[0].Value must be printable ASCII"),
    ({"RequestHeaders": [{"Value": "1"}]}, "RequestHeaders[0].Name is required"),
    ({"RequestHeaders": [{"Name": "X", "Value": 1}]}, "RequestHeaders.0.Value: must be a string"),
    ({"RequestHeaders": [{"name": "X", "value": "1", "Other": "a\nb"}]},
     "RequestHeaders[0].Other must not contain line breaks"),
    ({"ClientSecret": "plain"}, "ClientSecret: must be an object"),
])
def test_invalid_oauth_fields_are_named_and_nothing_is_stored(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint], change: dict[str, Any],
        wording: str) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    before = stored(service)
    with service.client(version=2) as client:
        response = client.put("/KeyfactorAPI/SMTP", json=oauth_body(relay, endpoint, **change))
    assert wording in error(response, 400, "0xA0110001")
    assert stored(service) == before


def test_a_client_secret_from_an_unknown_pam_provider_is_refused(service: RunningService,
                                        smtp_server: Callable[..., SmtpServer],
                                        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    body = oauth_body(relay, endpoint, ClientSecret={"Provider": 1,
                                                     "Parameters": {"SecretName": "smtp"}})
    with service.client(version=2) as client:
        message = error(client.put("/KeyfactorAPI/SMTP", json=body), 400, "0xA0110001")
    assert message.startswith("ClientSecret.Provider: no PAM provider has the Id 1")


# -- version 1 and a type-3 profile ------------------------------------------------------

def v1_body(relay: SmtpServer, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Host": "mail.test", "Port": relay.port, "UseSSL": True,
                            "RelayAuthenticationType": 3, "SenderAccount": "svc@corp.local",
                            "SenderName": "Renamed in v1"}
    body.update(overrides)
    return body


def test_a_v1_put_that_keeps_type_3_keeps_the_oauth_settings(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = token_endpoint(issuer())
    with service.client(version=2) as v2, service.client() as v1:
        v2.put("/KeyfactorAPI/SMTP", json=oauth_body(relay, endpoint)).raise_for_status()
        before = stored(service)
        response = v1.put("/KeyfactorAPI/SMTP", json=v1_body(relay))
        assert response.status_code == 200, response.text
        assert response.json()["RelayAuthenticationType"] == 3
        after = stored(service)
        # ...and a v1 Test of type 3 uses the stored OAuth settings.
        test = v1.post("/KeyfactorAPI/SMTP/Test", json={**v1_body(relay),
                                                        "TestRecipient": RECIPIENT})
    assert test.status_code == 200, test.text
    assert after == {**before, "SenderName": "Renamed in v1"}
    assert service.stored_profile().client_secret == Secret(SECRET)
    assert len(relay.received) == 1 and len(endpoint.calls) == 1


@pytest.mark.parametrize("change", [{"RelayAuthenticationType": 0},
                                    {"RelayAuthenticationType": None},
                                    {"RelayAuthenticationType": 2, "RelayUsername": "svc",
                                     "RelayPassword": "pw"}])
def test_a_v1_put_cannot_silently_drop_the_oauth_settings(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint], change: dict[str, Any]) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    with service.client(version=2) as v2, service.client() as v1:
        v2.put("/KeyfactorAPI/SMTP", json=oauth_body(relay, endpoint)).raise_for_status()
        before = stored(service)
        message = error(v1.put("/KeyfactorAPI/SMTP", json=v1_body(relay, **change)),
                        400, "0xA0110001")
    assert "the stored profile uses 3 (OAuth client credentials)" in message
    assert "x-keyfactor-api-version: 2" in message
    assert stored(service) == before


def test_a_v1_put_of_a_form_that_a_generated_client_sends_is_refused_too(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    form = (f"Host=mail.test&Id=1&Port={relay.port}&RelayAuthenticationType=0&RelayUsername="
            "&SenderAccount=kf%40corp.local&SenderName=KF+client&UseSSL=true")
    with service.client(version=2) as v2, service.client() as v1:
        v2.put("/KeyfactorAPI/SMTP", json=oauth_body(relay, endpoint)).raise_for_status()
        response = v1.put("/KeyfactorAPI/SMTP", content=form, headers={
            "content-type": "application/x-www-form-urlencoded"})
    error(response, 400, "0xA0110001")
    assert stored(service)["RelayAuthenticationType"] == 3


def test_v1_cannot_start_oauth_or_move_its_secret(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay, endpoint = smtp_server("starttls"), token_endpoint(issuer())
    with service.client() as v1, service.client(version=2) as v2:
        start = v1.put("/KeyfactorAPI/SMTP", json=v1_body(relay))
        assert "only version 2 of the API carries" in error(start, 400, "0xA0110001")
        v2.put("/KeyfactorAPI/SMTP", json=oauth_body(relay, endpoint)).raise_for_status()
        moved = v1.put("/KeyfactorAPI/SMTP", json=v1_body(relay, Host="localhost"))
    message = error(moved, 400, "0xA0110007")
    assert "ClientSecret must be re-entered (with x-keyfactor-api-version: 2) because Host" \
        in message


# -- the client secret and the token never leave --------------------------------------------

def forms_of(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode(),
            sasl_response("svc@corp.local", Secret(secret)).decode()]


def test_the_client_secret_and_the_token_never_leave(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    refusing = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"other"})))
    endpoint = token_endpoint(issuer())
    wrong = token_endpoint(issuer(client_secret="something-else"))
    body = oauth_body(relay, endpoint)
    test = {**body, "TestRecipient": RECIPIENT}
    responses: list[httpx.Response] = []
    with service.client(version=2) as v2, service.client() as v1:
        responses.append(v2.put("/KeyfactorAPI/SMTP", json=body))
        responses.append(v2.get("/KeyfactorAPI/SMTP"))
        responses.append(v1.get("/KeyfactorAPI/SMTP"))
        responses.append(v2.post("/KeyfactorAPI/SMTP/Test", json=test))
        responses.append(v2.post("/KeyfactorAPI/SMTP/Test", json=without_secret(test)))
        responses.append(v1.post("/KeyfactorAPI/SMTP/Test", json={**v1_body(relay),
                                                                   "TestRecipient": RECIPIENT}))
        responses.append(v1.put("/KeyfactorAPI/SMTP", json=v1_body(relay)))
        responses.append(v2.post("/KeyfactorAPI/SMTP/Test", json={**test, "Port": refusing.port}))
        responses.append(v2.post("/KeyfactorAPI/SMTP/Test",
                                 json={**test, "TokenEndpoint": wrong.url}))
        responses.append(v2.put("/KeyfactorAPI/SMTP", json={
            **body, "ClientSecret": {"SecretValue": SECRET + "\r\n"}}))
        responses.append(v2.put("/KeyfactorAPI/SMTP", json={
            **body, "ClientSecret": {"SecretValue": SECRET, "Extra": SECRET}}))
        responses.append(v2.put("/KeyfactorAPI/SMTP", json={**body, "ClientSecret": SECRET}))
        responses.append(v2.put("/KeyfactorAPI/SMTP", json={**without_secret(body),
                                                            "TokenEndpoint": wrong.url}))
    assert [r.status_code for r in responses[:7]] == [200] * 7, [r.text for r in responses]
    # the secret under an unknown name is ignored, as Keyfactor's server ignores it (issue 15)
    assert [r.status_code for r in responses[7:]] == [400, 400, 400, 200, 400, 400]
    assert len(relay.received) == 3
    leaks = [(form, r.request.method, r.text) for r in responses
             for form in forms_of(SECRET) + forms_of(TOKEN)
             if form in r.text or form in str(r.headers)]
    assert leaks == []
    logged = "\n".join(f"{rec.name} {rec.getMessage()} {rec.exc_text or ''}"
                       for rec in caplog.records)
    assert "token request to" in logged, "the service should have logged the token requests"
    for form in forms_of(SECRET) + forms_of(TOKEN):
        assert form not in logged
    service.stop()
    for path in service.settings.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for form in forms_of(SECRET) + forms_of(TOKEN):
                assert form.encode() not in content, path
