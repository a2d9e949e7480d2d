"""Three canaries (a relay password, an OAuth client secret, a bearer token) go through
every route, the CLI, the web page's calls and the failure paths. Afterwards every
response, log record, audit record, transcript, CLI output and the raw database are
searched for them, in every encoding they travel in, and nothing is found."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.support.database import raw_contents
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, SmtpServer, closed_port

PASSWORD = "Canary-Password-5f1b27"
CLIENT_SECRET = "Canary-ClientSecret-8e44c0"
TOKEN = "Canary-BearerToken-a93d51"
COMMAND = str(Path(sys.executable).with_name("smtp-profile"))


def encodings(secret: str, user: str) -> list[str]:
    """The forms a secret travels in: plain, url-encoded, base64, SASL PLAIN, XOAUTH2."""
    raw = secret.encode()
    return [secret, quote(secret), base64.b64encode(raw).decode(),
            base64.b64encode(b"\0" + user.encode() + b"\0" + raw).decode(),
            base64.b64encode(f"user={user}\x01auth=Bearer {secret}\x01\x01".encode()).decode()]


class Evidence:
    """Everything the service let out, to be searched."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def response(self, response: httpx.Response) -> httpx.Response:
        self.texts.append((f"{response.request.method} {response.request.url.path}",
                           response.text + json.dumps(dict(response.headers))))
        return response

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def leaks(self, needles: list[str]) -> list[tuple[str, str]]:
        return [(where, needle) for where, text in self.texts for needle in needles
                if needle in text]


def cli(evidence: Evidence, *args: str, env: dict[str, str], stdin: str | None = None) -> None:
    result = subprocess.run([COMMAND, *args], input=stdin, capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120, check=False)
    evidence.add(f"cli {' '.join(args)}", result.stdout + result.stderr)


@pytest.mark.slow
def test_no_secret_leaves_by_any_way(service: RunningService,
                                     smtp_server: Callable[..., SmtpServer],
                                     token_endpoint: Callable[..., TokenEndpoint],
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    evidence = Evidence()
    basic_relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": PASSWORD}))
    wrong_relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": "other"}))
    oauth_relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    idp = token_endpoint(Issuer(client_id="client-1", client_secret=CLIENT_SECRET,
                                tokens=[TOKEN]))
    refusing_relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"other"})))
    basic = {"Host": "mail.test", "Port": basic_relay.port, "UseSSL": True,
             "RelayAuthenticationType": 2, "RelayUsername": "svc@corp.local",
             "RelayPassword": PASSWORD, "SenderAccount": "svc@corp.local", "SenderName": "KF"}
    oauth = {"Host": "mail.test", "Port": oauth_relay.port, "UseSSL": True,
             "RelayAuthenticationType": 3, "SenderAccount": "svc@corp.local",
             "SenderName": "KF", "ClientId": {"SecretValue": "client-1"},
             "ClientSecret": {"SecretValue": CLIENT_SECRET}, "TokenEndpoint": idp.url}
    recipient = {"TestRecipient": "pki@corp.local"}
    r = evidence.response
    with service.client() as v1, service.client(version=2) as v2:
        # Basic: stored, read back, tested (ok, refused, unreachable), diagnosed, streamed.
        r(v1.put("/KeyfactorAPI/SMTP", json=basic))
        r(v1.get("/KeyfactorAPI/SMTP"))
        r(v2.get("/KeyfactorAPI/SMTP"))
        r(v1.post("/KeyfactorAPI/SMTP/Test", json={**basic, **recipient}))
        r(v1.post("/KeyfactorAPI/SMTP/Test", json={**basic, **recipient,
                                                   "Port": wrong_relay.port}))
        r(v1.post("/KeyfactorAPI/SMTP/Test", json={**basic, **recipient,
                                                   "Port": closed_port()}))
        r(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}))
        r(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={**basic, **recipient,
                                                       "Port": wrong_relay.port}))
        with v1.stream("POST", "/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"},
                       headers={"accept": "application/x-ndjson"}) as stream:
            evidence.add("ndjson", "".join(stream.iter_lines()))
        # Refused writes carrying the secret in odd places.
        r(v1.put("/KeyfactorAPI/SMTP", json={**basic, "RelayPassword": PASSWORD + "\n"}))
        r(v1.put("/KeyfactorAPI/SMTP", json={**basic, "Host": "other.test",
                                             "RelayPassword": None}))
        r(v1.put("/KeyfactorAPI/SMTP", content=f'{{"RelayPassword": "{PASSWORD}"',
                 headers={"content-type": "application/json"}))
        # OAuth: stored, tested, token reused, token refused by the relay, secret refused.
        r(v2.put("/KeyfactorAPI/SMTP", json=oauth))
        r(v2.get("/KeyfactorAPI/SMTP"))
        r(v2.post("/KeyfactorAPI/SMTP/Test", json={**oauth, **recipient}))
        r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}))
        r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={**oauth, **recipient,
                                                       "Port": refusing_relay.port}))
        idp.issuer.client_secret = "rotated-at-the-provider"
        r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={
            **oauth, **recipient, "ClientSecret": {"SecretValue": CLIENT_SECRET + "x"}}))
        r(v2.get("/KeyfactorAPI/SMTP/Status"))
        r(v2.get("/KeyfactorAPI/SMTP/Options"))
        audit = r(v2.get("/KeyfactorAPI/SMTP/Audit", params={"returnLimit": 1000}))
        assert len(audit.json()) >= 15
    # Sign-ins with a canary as the password, over Basic and the page.
    with service.client("svc@corp.local", PASSWORD) as intruder:
        r(intruder.get("/KeyfactorAPI/SMTP"))
    with httpx.Client(base_url=service.url, timeout=30,
                      headers={"x-keyfactor-requested-with": "XMLHttpRequest"}) as page:
        r(page.post("/web/session", json={"UserName": "admin", "Password": PASSWORD}))
        r(page.post("/web/session", json={"UserName": "admin",
                                          "Password": service.admin_password}))
        stored = r(page.put("/KeyfactorAPI/SMTP", headers={"x-keyfactor-api-version": "2"},
                            json={**basic, "RelayUsername": {"SecretValue": "svc@corp.local"},
                                  "RelayPassword": {"SecretValue": PASSWORD}}))
        assert stored.status_code == 200, stored.text
        r(page.get("/KeyfactorAPI/SMTP", headers={"x-keyfactor-api-version": "2"}))
        r(page.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"},
                    headers={"x-keyfactor-api-version": "2"}))
        r(page.delete("/web/session"))
    # The CLI, against the server and on the data dir.
    remote = {"SMTP_PROFILE_URL": service.url, "SMTP_PROFILE_PASSWORD": service.admin_password}
    cli(evidence, "show", "--json", env=remote)
    cli(evidence, "test", "pki@corp.local", "--verify-only", "--json", env=remote)
    cli(evidence, "set", "--port", str(basic_relay.port), "--password-stdin", env=remote,
        stdin=PASSWORD + "\n")
    cli(evidence, "test", "pki@corp.local", env=remote)
    local = {"SMTP_PROFILE_DATA_DIR": str(service.settings.data_dir)}
    cli(evidence, "show", env=local)
    cli(evidence, "audit", "--json", "--limit", "1000", env=local)

    assert len(basic_relay.received) >= 2 and len(oauth_relay.received) == 1
    assert oauth_relay.behaviour.xoauth2_attempts  # the token really travelled, to the relay
    evidence.add("log", "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}"
                                  for rec in caplog.records))
    evidence.add("database", raw_contents(service.settings).decode("utf-8", "replace"))
    needles = (encodings(PASSWORD, "svc@corp.local") + encodings(CLIENT_SECRET, "client-1")
               + encodings(TOKEN, "svc@corp.local"))
    assert evidence.leaks(needles) == []
    # The search itself works: the canaries are in what the relays and the IdP received.
    assert evidence.leaks([PASSWORD]) == [] and PASSWORD in str(basic_relay.behaviour.users)
    assert any(call.field("client_secret") == CLIENT_SECRET for call in idp.calls)


def test_the_search_finds_a_planted_leak() -> None:
    evidence = Evidence()
    evidence.add("somewhere", "... " + base64.b64encode(b"\0u\0" + PASSWORD.encode()).decode())
    assert ("somewhere", encodings(PASSWORD, "u")[3]) in evidence.leaks(encodings(PASSWORD, "u"))
    assert evidence.leaks(encodings(CLIENT_SECRET, "u")) == []



def every_form(secret: str, user: str) -> list[str]:
    """`encodings` plus the URL-safe alphabet, LOGIN's piece and form encoding; searched
    case-insensitively in text with its whitespace removed (see `echoes`)."""
    forms = [*encodings(secret, user), quote_plus(secret)]
    forms += [base64.urlsafe_b64encode(secret.encode()).decode(),
              base64.b64encode(b"\0" + user.encode() + b"\0" + secret.encode()).decode()
              .translate(str.maketrans("+/", "-_"))]
    return forms


def echoes(evidence: Evidence, needles: list[str]) -> list[tuple[str, str]]:
    """Leaks in any case, and split by whitespace."""
    folded = [(where, "".join(text.split()).lower()) for where, text in evidence.texts]
    return [(where, needle) for where, text in folded for needle in needles
            if "".join(needle.split()).lower() in text]


@pytest.mark.slow
def test_no_echo_of_a_secret_survives(service: RunningService,
                                      smtp_server: Callable[..., SmtpServer],
                                      token_endpoint: Callable[..., TokenEndpoint],
                                      caplog: pytest.LogCaptureFixture) -> None:
    """A relay that echoes the AUTH argument (in its 535, and once it accepted, in every
    later reply) and an identity provider that echoes the client secret: nothing of what
    they repeat reaches a response, Status, the audit, a log line or the database."""
    caplog.set_level(logging.DEBUG)
    evidence = Evidence()
    user = "svc@corp.local"
    refusing = smtp_server("starttls", Behaviour(users={user: "other"}, echo_auth=True))
    accepting = smtp_server("starttls", Behaviour(users={user: PASSWORD}, echo_auth=True))
    oauth_refusing = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"other"}),
                                                       echo_auth=True))
    oauth_accepting = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN}),
                                                        echo_auth=True))
    idp = token_endpoint(Issuer(client_id="client-1", client_secret=CLIENT_SECRET,
                                tokens=[TOKEN]))
    echoing_idp = token_endpoint(Issuer(client_id="client-1", client_secret="expected",
                                        tokens=[TOKEN], echo=True))
    basic = {"Host": "mail.test", "Port": refusing.port, "UseSSL": True,
             "RelayAuthenticationType": 2, "RelayUsername": user,
             "RelayPassword": PASSWORD, "SenderAccount": user, "SenderName": "KF"}
    oauth = {"Host": "mail.test", "Port": oauth_refusing.port, "UseSSL": True,
             "RelayAuthenticationType": 3, "SenderAccount": user, "SenderName": "KF",
             "ClientId": {"SecretValue": "client-1"},
             "ClientSecret": {"SecretValue": CLIENT_SECRET}, "TokenEndpoint": idp.url}
    recipient = {"TestRecipient": "pki@corp.local"}
    r = evidence.response
    with service.client() as v1, service.client(version=2) as v2:
        # Basic, refused with an echo: stored profile and a body; PLAIN and LOGIN.
        assert r(v1.put("/KeyfactorAPI/SMTP", json=basic)).status_code == 200
        refused = r(v1.post("/KeyfactorAPI/SMTP/Test", json={**basic, **recipient}))
        assert refused.status_code == 400 and "5.7.8" in refused.text
        r(v2.post("/KeyfactorAPI/SMTP/Test", json={
            **basic, **recipient, "RelayUsername": {"SecretValue": user},
            "RelayPassword": {"SecretValue": PASSWORD}}))
        report = r(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"})).json()
        auth = next(s for s in report["Steps"] if s["Name"] == "auth")
        assert auth["ReplyCode"] == 535 and auth["Details"]["enhanced_status"] == "5.7.8"
        assert "***" in auth["ReplyText"] and "***" in " ".join(report["Transcript"])
        r(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify", "Mechanism": "LOGIN"}))
        with v1.stream("POST", "/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"},
                       headers={"accept": "application/x-ndjson"}) as stream:
            evidence.add("ndjson", "".join(stream.iter_lines()))
        r(v1.get("/KeyfactorAPI/SMTP/Status"))
        # Basic, accepted with an echo in 235 and every later reply.
        assert r(v1.put("/KeyfactorAPI/SMTP", json={**basic, "Port": accepting.port})
                 ).status_code == 200
        sent = r(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={}))
        assert sent.json()["Success"] is True, sent.text
        r(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mechanism": "LOGIN"}))
        r(v1.get("/KeyfactorAPI/SMTP/Status"))
        # OAuth: the relay echoes the XOAUTH2 blob (bearer token) refusing, then accepting.
        assert r(v2.put("/KeyfactorAPI/SMTP", json=oauth)).status_code == 200
        r(v2.post("/KeyfactorAPI/SMTP/Test", json={**oauth, **recipient}))
        r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}))
        r(v2.get("/KeyfactorAPI/SMTP/Status"))
        assert r(v2.put("/KeyfactorAPI/SMTP", json={
            **oauth, "Port": oauth_accepting.port})).status_code == 200
        accepted = r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={}))
        assert accepted.json()["Success"] is True, accepted.text
        r(v2.get("/KeyfactorAPI/SMTP/Status"))
        # The identity provider echoes the client secret it refuses, in many forms.
        echoed = r(v2.post("/KeyfactorAPI/SMTP/Test", json={
            **oauth, **recipient, "TokenEndpoint": echoing_idp.url}))
        assert echoed.status_code == 400 and "invalid_client" in echoed.text
        r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={
            **oauth, **recipient, "TokenEndpoint": echoing_idp.url}))
        r(v2.get("/KeyfactorAPI/SMTP/Audit", params={"returnLimit": 1000}))
    local = {"SMTP_PROFILE_DATA_DIR": str(service.settings.data_dir)}
    cli(evidence, "audit", "--json", "--limit", "1000", env=local)

    # The relays and the provider really echoed: the search has something to miss.
    assert oauth_refusing.behaviour.xoauth2_attempts and oauth_accepting.received
    assert len(accepting.received) == 2 and echoing_idp.calls
    # Every log record but the test relays' own (aiosmtpd's "mail.log" logs what they send).
    evidence.add("log", "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}"
                                  for rec in caplog.records if rec.name != "mail.log"))
    evidence.add("database", raw_contents(service.settings).decode("utf-8", "replace"))
    needles = (every_form(PASSWORD, user) + every_form(CLIENT_SECRET, "client-1")
               + every_form(TOKEN, user))
    assert echoes(evidence, needles) == []


def test_the_echo_search_finds_every_form() -> None:
    evidence = Evidence()
    planted = [PASSWORD.upper(), " ".join(PASSWORD), quote_plus(PASSWORD),
               base64.urlsafe_b64encode(b"\0u\0" + PASSWORD.encode()).decode()]
    for index, text in enumerate(planted):
        evidence.add(f"plant {index}", f"... {text} ...")
    found = {where for where, _ in echoes(evidence, every_form(PASSWORD, "u"))}
    assert found == {f"plant {index}" for index in range(len(planted))}


@pytest.mark.slow
def test_no_service_account_key_leaves_by_any_way(service: RunningService,
                                                  smtp_server: Callable[..., SmtpServer],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A Google service account key (JWT bearer grant) through its routes, refusals, a
    failing and a passing test, Status, the audit trail and the CLI: its private key, the
    assertions signed with it and the access token appear nowhere."""
    from tests.support.google import GMAIL_SCOPE, GoogleDomain, GoogleTokenEndpoint, rsa_key

    caplog.set_level(logging.DEBUG)
    evidence = Evidence()
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    google = GoogleTokenEndpoint(GoogleDomain(tokens=[TOKEN]))
    try:
        key_file = google.key_file(rsa_key(), "canary-key")
        route = "/KeyfactorAPI/SMTP/OAuth/ServiceAccount"
        relay_fields = {"Host": "mail.test", "Port": relay.port}
        profile = {"Host": "mail.test", "Port": relay.port, "UseSSL": True,
                   "RelayAuthenticationType": 3, "SenderAccount": "svc@corp.local",
                   "SenderName": "KF", "ClientId": {"SecretValue": google.domain.client_id},
                   "TokenEndpoint": google.url}
        r = evidence.response
        with service.client() as v1, service.client(version=2) as v2:
            # Refused uploads carrying the key: wrong type, plain relay, unknown field.
            r(v1.put(route, json={"KeyFile": {**key_file, "type": "user"}, **relay_fields}))
            r(v1.put(route, json={"KeyFile": key_file, **relay_fields, "UseSSL": False}))
            r(v1.put(route, json={"KeyFile": key_file, **relay_fields,
                                  "PrivateKey": key_file["private_key"]}))
            r(v1.put(route, json={"KeyFile": json.dumps(key_file)[:-3], **relay_fields}))
            # Stored, read, used: refused by Google (no delegation), then accepted.
            r(v1.put(route, json={"KeyFile": key_file, **relay_fields}))
            r(v1.get(route))
            r(v2.put("/KeyfactorAPI/SMTP", json=profile))
            google.domain.echo = True  # Google repeating the signature in its error
            refused = r(v2.post("/KeyfactorAPI/SMTP/Diagnose",
                                json={"TestRecipient": "pki@corp.local"}))
            assert "signature ***" in refused.text
            google.domain.echo = False
            google.domain.delegated_scopes.add(GMAIL_SCOPE)
            r(v2.post("/KeyfactorAPI/SMTP/Test", json={**profile,
                                                      "TestRecipient": "pki@corp.local"}))
            r(v2.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}))
            r(v2.get("/KeyfactorAPI/SMTP/Status"))
            r(v1.get("/KeyfactorAPI/SMTP/Audit", params={"returnLimit": 1000}))
        remote = {"SMTP_PROFILE_URL": service.url,
                  "SMTP_PROFILE_PASSWORD": service.admin_password}
        cli(evidence, "service-account", "show", "--json", env=remote)
    finally:
        google.close()
    assert relay.behaviour.xoauth2_attempts and len(relay.received) == 1
    evidence.add("log", "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}"
                                  for rec in caplog.records))
    evidence.add("database", raw_contents(service.settings).decode("utf-8", "replace"))
    body = "".join(key_file["private_key"].splitlines()[1:-1])
    assertions = [call.form["assertion"][0] for call in google.calls if "assertion" in call.form]
    needles = ([body[:48], body[400:448], body[-48:]] + encodings(TOKEN, "svc@corp.local")
               + [a for assertion in assertions for a in (assertion, assertion.split(".")[2])])
    assert len(assertions) >= 2
    assert evidence.leaks(needles) == []
    # The search works: the key's readable fields are there, the relay got the token.
    assert evidence.leaks([google.domain.client_email])
