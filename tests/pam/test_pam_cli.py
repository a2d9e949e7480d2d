"""`smtp-profile pam ...` on the local data dir and against a running server.

Run in-process (typer's runner) so the test provider type registered by the fixture is
known to the command as it is to the service."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from smtp_profile.cli import app
from tests.pam.test_pam_routes import FETCHED, TOKEN, pam_service, vault
from tests.support.pam import TYPE_NAME, FileProviderType, Vault, file_provider_type
from tests.support.service import RunningService

__all__ = ["file_provider_type", "pam_service", "vault"]


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_pam_commands_on_the_local_data_dir(tmp_path: Path, vault: Vault,
                                            file_provider_type: FileProviderType) -> None:
    env = {"SMTP_PROFILE_DATA_DIR": str(tmp_path / "data")}
    code, out, _ = run("pam", "types", env=env)
    assert code == 0 and f"{TYPE_NAME} (" in out and "File: Secret file name [reference, " \
        "text]" in out
    assert run("pam", "list", env=env)[1].strip() == "no PAM providers"

    code, _, err = run("pam", "add", "files", "--type", TYPE_NAME, "--param",
                       f"Directory={vault.directory}", env=env)
    assert code == 2 and "'Token' (Access token) is required" in err
    code, out, err = run("pam", "add", "files", "--type", TYPE_NAME, "--param",
                         f"Directory={vault.directory}", "--secret", "Token", env=env,
                         stdin=TOKEN + "\n")
    assert code == 0, err
    assert "1: files (Test-Files)" in out and "Token: (secret, set)" in out
    assert TOKEN not in out

    code, out, err = run("pam", "set", "1", "--name", "vault", "--param", "Label=main",
                         env=env)
    assert code == 0, err
    shown = json.loads(run("pam", "show", "1", "--json", env=env)[1])
    assert shown["Name"] == "vault"
    assert {v["ProviderTypeParam"]["Name"]: v["Value"]
            for v in shown["ProviderTypeParamValues"]} == {
        "Directory": str(vault.directory), "Token": None, "Label": "main"}
    assert run("pam", "set", "1", env=env)[0] == 2
    assert run("pam", "show", "7", env=env)[0] == 2

    code, out, _ = run("pam", "remove", "1", env=env)
    assert code == 0 and "removed PAM provider 1" in out
    code, _, err = run("pam", "remove", "1", env=env)
    assert code == 2 and "0xA0110030" in err


def test_pam_commands_against_a_server(pam_service: RunningService, vault: Vault) -> None:
    env = {"SMTP_PROFILE_URL": pam_service.url,
           "SMTP_PROFILE_PASSWORD": pam_service.admin_password}
    code, out, err = run("pam", "add", "files", "--type", TYPE_NAME, "--param",
                         f"Directory={vault.directory}", "--secret", "Token", env=env,
                         stdin=TOKEN + "\n")
    assert code == 0, err
    provider_id = json.loads(run("pam", "list", "--json", env=env)[1])[0]["Id"]
    with pam_service.client(version=2) as client:
        body = {"Host": "mail.test", "Port": 2525, "RelayAuthenticationType": 2,
                "RelayUsername": {"SecretValue": "svc@corp.local"},
                "RelayPassword": {"Provider": provider_id,
                                  "Parameters": {"File": "smtp-password"}},
                "SenderAccount": "svc@corp.local", "SenderName": "KF"}
        assert client.put("/KeyfactorAPI/SMTP", json=body).status_code == 200
    code, _, err = run("pam", "remove", str(provider_id), env=env)
    assert code == 2 and "0xA0110031" in err and "in use" in err
    code, out, _ = run("test", "pki@corp.local", "--verify-only", env=env)
    (secret_line,) = [line for line in out.splitlines() if " secret " in line]
    assert "RelayPassword from files" in secret_line and FETCHED not in out
    code, out, _ = run("show", env=env)
    assert code == 0
    assert (f"Relay password:  from PAM provider {provider_id} (File=smtp-password)"
            in out), out
    code, out, _ = run("show", "--json", env=env)
    assert code == 0 and FETCHED not in out and TOKEN not in out
    assert json.loads(out)["Profile"]["RelayPassword"]["Provider"] == provider_id
