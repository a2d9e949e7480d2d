"""The canary sweep, extended to PAM: a provider's own credential and the values fetched
through references (a relay password, an OAuth client id and client secret) go through
the provider routes, the profile routes, Test, Diagnose (streamed too), Status, the
audit trail and the CLI, against relays that echo what they are sent. Afterwards no
response, log record, CLI output or database byte holds them in any form."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.pam.test_pam_cli import run
from tests.pam.test_pam_routes import add_provider, pam_service, vault
from tests.support.database import raw_contents
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.pam import FileProviderType, Vault, file_provider_type
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, SmtpServer
from tests.test_canary_sweep import Evidence, echoes, every_form

__all__ = ["file_provider_type", "pam_service", "vault"]

PROVIDER_TOKEN = "Canary-ProviderToken-e04c9a"
FETCHED_PASSWORD = "Canary-FetchedPassword-61d2f8"
FETCHED_SECRET = "Canary-FetchedClientSecret-a7730b"
ACCESS_TOKEN = "Canary-AccessToken-5c0e11"
USER = "svc@corp.local"


def test_no_pam_secret_leaves_by_any_way(
        pam_service: RunningService, vault: Vault, file_provider_type: FileProviderType,
        smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    evidence = Evidence()
    r = evidence.response
    vault.token = PROVIDER_TOKEN
    (vault.directory / ".token").write_text(PROVIDER_TOKEN)
    vault.put("smtp-password", FETCHED_PASSWORD)
    vault.put("client-id", "client-1")
    vault.put("client-secret", FETCHED_SECRET)
    echoing = smtp_server("starttls", Behaviour(users={USER: "other"}, echo_auth=True))
    accepting = smtp_server("starttls", Behaviour(users={USER: FETCHED_PASSWORD},
                                                  echo_auth=True))
    oauth_relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({ACCESS_TOKEN})))
    idp = token_endpoint(Issuer(client_id="client-1", client_secret=FETCHED_SECRET,
                                tokens=[ACCESS_TOKEN]))
    recipient = {"TestRecipient": "pki@corp.local"}
    with pam_service.client(version=2) as v2, pam_service.client() as v1:
        provider = add_provider(v2, vault)
        evidence.add("POST /PamProviders", str(provider))
        pid = provider["Id"]
        r(v2.get("/KeyfactorAPI/PamProviders"))
        r(v2.get(f"/KeyfactorAPI/PamProviders/{pid}"))
        r(v2.put("/KeyfactorAPI/PamProviders", json={**vault.provider_body(), "Id": pid}))
        r(v2.post("/KeyfactorAPI/PamProviders", json={
            **vault.provider_body("bad"), "ProviderTypeParamValues": [
                {"ProviderTypeParam": {"Name": "Token"}, "Value": PROVIDER_TOKEN + "\n"}]}))

        def ref(file: str) -> dict[str, Any]:
            return {"Provider": pid, "Parameters": {"File": file}}

        basic = {"Host": "mail.test", "Port": accepting.port, "UseSSL": True,
                 "RelayAuthenticationType": 2, "RelayUsername": {"SecretValue": USER},
                 "RelayPassword": ref("smtp-password"), "SenderAccount": USER,
                 "SenderName": "KF"}
        oauth = {"Host": "mail.test", "Port": oauth_relay.port, "UseSSL": True,
                 "RelayAuthenticationType": 3, "SenderAccount": USER, "SenderName": "KF",
                 "ClientId": ref("client-id"), "ClientSecret": ref("client-secret"),
                 "TokenEndpoint": idp.url}
        assert r(v2.put("/KeyfactorAPI/SMTP", json=basic)).status_code == 200
        r(v1.get("/KeyfactorAPI/SMTP"))
        r(v2.get("/KeyfactorAPI/SMTP"))
        assert r(v1.post("/KeyfactorAPI/SMTP/Test", json={
            **v1.get("/KeyfactorAPI/SMTP").json(), **recipient})).status_code == 200
        r(v2.post("/KeyfactorAPI/SMTP/Test", json={**basic, **recipient,
                                                   "Port": echoing.port}))
        r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={**basic, **recipient,
                                                       "Port": echoing.port}))
        with v2.stream("POST", "/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"},
                       headers={"accept": "application/x-ndjson"}) as stream:
            evidence.add("ndjson", "".join(stream.iter_lines()))
        assert r(v2.put("/KeyfactorAPI/SMTP", json=oauth)).status_code == 200
        report = r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json=recipient)).json()
        assert report["Success"] is True, report
        r(v2.get("/KeyfactorAPI/SMTP/Status"))
        r(v2.get("/KeyfactorAPI/SMTP/Audit", params={"returnLimit": 1000}))
    env = {"SMTP_PROFILE_URL": pam_service.url,
           "SMTP_PROFILE_PASSWORD": pam_service.admin_password}
    for args in (("pam", "list", "--json"), ("pam", "show", str(pid)), ("show", "--json"),
                 ("test", "pki@corp.local", "--json")):
        code, out, err = run(*args, env=env)
        evidence.add(f"cli {' '.join(args)}", out + err)
    assert code == 0, out + err

    assert accepting.received and oauth_relay.received
    assert any(call.field("client_secret") == FETCHED_SECRET for call in idp.calls)
    # Every log record but the test relays' own (aiosmtpd's "mail.log" logs what they get).
    evidence.add("log", "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}"
                                  for rec in caplog.records if rec.name != "mail.log"))
    evidence.add("database", raw_contents(pam_service.settings).decode("utf-8", "replace"))
    needles = (every_form(PROVIDER_TOKEN, USER) + every_form(FETCHED_PASSWORD, USER)
               + every_form(FETCHED_SECRET, "client-1") + every_form(ACCESS_TOKEN, USER))
    assert echoes(evidence, needles) == []
    # the search works: the fetched password is where it was sent
    assert FETCHED_PASSWORD in str(accepting.behaviour.users)
