"""`smtp-profile show` warns about Microsoft's end of Basic authentication for a type-2
profile on Exchange Online, and not for other relays.

In-process (typer's runner) rather than as a subprocess: the command is the same, and a
start-up of the CLI costs seconds on the CI machines; tests/test_cli_profile.py runs the
installed command.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from smtp_profile.cli import app
from tests.test_cli_profile import local_env

PASSWORD = "Cli-Deadline-Canary"


def invoke(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_show_warns_about_basic_auth_to_exchange_online(
        tmp_path: Path, ca_bundle: Path) -> None:
    env = local_env(tmp_path / "data", ca_bundle)
    invoke("set", "--host", "smtp.office365.com", "--port", "587", "--use-ssl", "--auth",
           "basic", "--username", "svc@contoso.example", "--password-stdin",
           "--sender-account", "svc@contoso.example", "--sender-name", "PKI", env=env,
           stdin=PASSWORD + "\n")
    shown = invoke("show", env=env)
    [line] = [line for line in shown.splitlines() if "Basic authentication" in line]
    assert line.startswith(("Warning: Microsoft keeps", "Critical: Since the end of December"))
    assert "RelayAuthenticationType 3" in line and "second half of 2027" in line
    assert PASSWORD not in shown


def test_other_relays_get_no_deadline_warning(tmp_path: Path, ca_bundle: Path) -> None:
    """The warning comes from GET /SMTP/Status (usecases/status_warnings.py), which `show`
    prints: a relay that is not Microsoft's gets none."""
    env = local_env(tmp_path / "data", ca_bundle)
    invoke("set", "--host", "mail.contoso.example", "--port", "587", "--use-ssl", "--auth",
           "basic", "--username", "svc@contoso.example", "--password-stdin",
           "--sender-account", "svc@contoso.example", "--sender-name", "PKI", env=env,
           stdin=PASSWORD + "\n")
    shown = invoke("show", env=env)
    assert "Host:" in shown or "mail.contoso.example" in shown  # the profile was shown
    assert "Basic authentication" not in shown
