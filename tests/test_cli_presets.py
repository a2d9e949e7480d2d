"""`smtp-profile set --preset NAME`: every provider preset fills its fields and no other,
the values a preset needs are checked, and a Google service account key is uploaded and
named by the profile, locally and against a running server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smtp_profile.cli import app
from smtp_profile.domain.presets import PRESETS, preset_named
from tests.support.google import GoogleDomain, GoogleTokenEndpoint, rsa_key
from tests.support.service import RunningService, run_async

TENANT = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


def invoke(*args: str, env: dict[str, str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin, env=env, catch_exceptions=False)


def shown(env: dict[str, str]) -> dict[str, Any]:
    result = invoke("show", "--json", env=env)
    assert result.exit_code == 0, result.output
    profile: dict[str, Any] = json.loads(result.stdout)["Profile"]
    return profile


# What each preset must set, as its provider documents it (README, "Provider presets").
EXPECTED = {
    "microsoft-365": ({"--tenant": TENANT}, {
        "Host": "smtp.office365.com", "Port": 587, "UseSSL": True,
        "RelayAuthenticationType": 3,
        "TokenEndpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
        "Scope": "https://outlook.office365.com/.default"}),
    "google-app-password": ({}, {"Host": "smtp.gmail.com", "Port": 587, "UseSSL": True,
                                 "RelayAuthenticationType": 2}),
    "amazon-ses": ({"--region": "eu-central-1"}, {
        "Host": "email-smtp.eu-central-1.amazonaws.com", "Port": 587, "UseSSL": True,
        "RelayAuthenticationType": 2}),
    "sendgrid": ({}, {"Host": "smtp.sendgrid.net", "Port": 587, "UseSSL": True,
                      "RelayAuthenticationType": 2,
                      "RelayUsername": {"SecretValue": "apikey"}}),
    "mailgun": ({"--region": "EU"}, {"Host": "smtp.eu.mailgun.org", "Port": 587,
                                      "UseSSL": True, "RelayAuthenticationType": 2}),
    "postmark": ({}, {"Host": "smtp.postmarkapp.com", "Port": 587, "UseSSL": True,
                      "RelayAuthenticationType": 2}),
}


def test_every_preset_fills_its_fields() -> None:
    assert {p.name for p in PRESETS} == {*EXPECTED, "google-service-account"}
    for name, (values, expected) in EXPECTED.items():
        assert preset_named(name).fields(*values.values()) == expected, name
    assert preset_named("google-service-account").fields() == {
        "Host": "smtp.gmail.com", "Port": 587, "UseSSL": True, "RelayAuthenticationType": 3,
        "TokenEndpoint": "https://oauth2.googleapis.com/token",
        "Scope": "https://mail.google.com/"}


def test_presets_through_the_cli_change_only_their_fields(tmp_path: Path) -> None:
    env = {"SMTP_PROFILE_DATA_DIR": str(tmp_path / "data")}
    sender = ["--sender-account", "pki@corp.example", "--sender-name", "Keyfactor Command"]
    for name, args in (("microsoft-365", [*sender, "--client-id", "app-1",
                                          "--client-secret-stdin"]),
                       ("sendgrid", ["--password-stdin"])):
        values, expected = EXPECTED[name]
        options = [item for pair in values.items() for item in pair]
        result = invoke("set", "--preset", name, *options, *args, env=env, stdin="secret\n")
        assert result.exit_code == 0, (name, result.output)
        profile = shown(env)
        if profile.get("RelayUsername"):
            profile["RelayUsername"] = {"SecretValue": profile["RelayUsername"]["SecretValue"]}
        assert {k: profile[k] for k in expected} == expected, name
        # Nothing else changed: the sender stays, credentials are the operator's.
        assert profile["SenderAccount"] == "pki@corp.example", name
        assert profile["SenderName"] == "Keyfactor Command", name
    assert profile["ClientId"] is None  # switching to Basic drops the OAuth settings


def test_a_preset_names_what_it_needs_then_saves(tmp_path: Path) -> None:
    env = {"SMTP_PROFILE_DATA_DIR": str(tmp_path / "data")}
    base = ["--sender-account", "pki@corp.example", "--sender-name", "KF",
            "--password-stdin", "--username", "AKIAEXAMPLE"]
    for args, message in (
            (["--preset", "amazon-ses"], "needs --region (an AWS Region, e.g. eu-west-1)"),
            (["--preset", "amazon-ses", "--region", "Europe"], "must be an AWS Region"),
            (["--preset", "mailgun", "--region", "asia"], "must be one of us, eu"),
            (["--preset", "postmark", "--region", "eu-west-1"], "takes no tenant or region"),
            (["--preset", "microsoft-365", "--tenant", "not a tenant"], "Entra tenant"),
            (["--preset", "exchange-2003"], "choose one of microsoft-365, google-app"),
            (["--region", "eu-west-1"], "go with --preset")):
        refused = invoke("set", *args, *base, env=env, stdin="x\n")
        assert refused.exit_code == 2, args
        assert message in refused.output, (args, refused.output)
    saved = invoke("set", "--preset", "amazon-ses", "--region", "eu-west-1", *base, env=env,
                   stdin="ses-smtp-password\n")
    assert saved.exit_code == 0, saved.output
    assert shown(env)["Host"] == "email-smtp.eu-west-1.amazonaws.com"


def test_presets_are_the_pages_data_too() -> None:
    assert preset_named("Microsoft-365").fields("contoso.onmicrosoft.com")["TokenEndpoint"] \
        == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    page = [preset.to_json() for preset in PRESETS]
    assert json.loads(json.dumps(page)) == page
    assert all(p["Source"].startswith("https://") for p in page)


@pytest.fixture
def google() -> Any:
    endpoint = GoogleTokenEndpoint(GoogleDomain())
    yield endpoint
    endpoint.close()


def test_google_service_account_preset_against_a_server(
        service: RunningService, google: GoogleTokenEndpoint, tmp_path: Path) -> None:
    key_path = tmp_path / "sa.json"
    key_path.write_text(json.dumps(google.key_file(rsa_key(), "cli-key")))
    remote = {"SMTP_PROFILE_URL": service.url, "SMTP_PROFILE_PASSWORD": service.admin_password}
    # A key file that is not one: refused with the reason, nothing stored.
    bad = tmp_path / "client_secret.json"
    bad.write_text('{"installed": {"client_id": "x"}}')
    refused = invoke("set", "--preset", "google-service-account", "--key-file", str(bad),
                     "--sender-account", "svc@corp.local", "--sender-name", "KF", env=remote)
    assert refused.exit_code == 2 and '"type" must be "service_account"' in refused.output
    saved = invoke("set", "--preset", "google-service-account", "--key-file", str(key_path),
                   "--sender-account", "svc@corp.local", "--sender-name", "KF", env=remote)
    assert saved.exit_code == 0, saved.output
    with service.client(version=2) as client:
        profile = client.get("/KeyfactorAPI/SMTP").json()
    assert profile["Host"] == "smtp.gmail.com" and profile["RelayAuthenticationType"] == 3
    assert profile["ClientId"]["SecretValue"] == google.domain.client_id
    assert profile["TokenEndpoint"] == google.url  # the key's token_uri, not the default
    assert profile["Scope"] == "https://mail.google.com/" and profile["ClientSecret"] is None
    listed = invoke("service-account", "show", env=remote)
    assert listed.exit_code == 0 and "Key id:          cli-key" in listed.stdout
    assert "PRIVATE KEY" not in listed.stdout + saved.output
    assert run_async(service.runtime.service_accounts.get()).version == 2
    # delete, then upload again for another relay, with the service-account commands.
    assert invoke("service-account", "delete", env=remote).exit_code == 0
    assert "Service account: none" in invoke("service-account", "show", env=remote).stdout
    again = invoke("service-account", "set", "--key-file", str(key_path), "--host",
                   "relay.corp.example", "--port", "465", env=remote)
    assert again.exit_code == 0, again.output
    assert "saved: key cli-key of " in again.stdout and "relay.corp.example:465" in again.stdout
    stored = run_async(service.runtime.service_accounts.get())
    assert stored.account is not None and stored.account.relay.port == 465
