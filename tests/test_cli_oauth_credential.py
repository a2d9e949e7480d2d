"""`smtp-profile oauth-credential show/set/delete` as an operator runs them: locally with
PEM files, and against a running server with a PKCS#12 file and its password on stdin."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.assertion_endpoint import make_certificate
from tests.support.service import RunningService
from tests.test_cli_profile import local_env, run

ENDPOINT = "https://login.example.com/tenant/oauth2/v2.0/token"
P12_PASSWORD = "Cli-Pkcs12-Password-Canary-1f0a"


def test_set_show_and_delete_on_the_local_data_dir(tmp_path: Path, ca_bundle: Path) -> None:
    env = local_env(tmp_path / "data", ca_bundle)
    cert = make_certificate(kind="ec")
    (tmp_path / "app.crt").write_text(cert.cert_pem)
    (tmp_path / "app.key").write_text(cert.key_pem)
    saved = run("oauth-credential", "set", "--certificate", str(tmp_path / "app.crt"),
                "--key", str(tmp_path / "app.key"), "--token-endpoint", ENDPOINT,
                "--client-id", "client-1", "--host", "smtp.example.com", "--port", "587",
                "--use-ssl", "--client-secret-expires", "2027-06-30", env=env)
    assert saved.returncode == 0, saved.stderr
    assert "Key, algorithm:       EC secp256r1, ES256" in saved.stdout
    assert "Client secret expires: 2027-06-30" in saved.stdout
    assert "PRIVATE KEY" not in saved.stdout + saved.stderr
    refused = run("oauth-credential", "set", "--token-endpoint", "https://elsewhere.test/t",
                  env=env)
    assert refused.returncode == 2 and "0xA0110007" in refused.stderr


def test_set_a_pkcs12_file_on_a_running_server(service: RunningService,
                                               tmp_path: Path) -> None:
    cert = make_certificate(kind="ec")
    (tmp_path / "app.pfx").write_bytes(cert.pkcs12(P12_PASSWORD))
    remote = {"SMTP_PROFILE_URL": service.url, "SMTP_PROFILE_PASSWORD": service.admin_password}
    saved = run("oauth-credential", "set", "--pkcs12", str(tmp_path / "app.pfx"),
                "--password-stdin", "--token-endpoint", ENDPOINT, "--client-id", "client-1",
                "--host", "smtp.example.com", "--port", "587", "--json", env=remote,
                stdin=P12_PASSWORD + "\n")
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["CertificateInfo"]["KeyType"] == "EC secp256r1"
    assert P12_PASSWORD not in saved.stdout + saved.stderr
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP/OAuth/Credential").json()["ClientId"] == (
            "client-1")
    assert run("oauth-credential", "delete", env=remote).returncode == 0
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP/OAuth/Credential").json()[
            "CertificateInfo"] is None
