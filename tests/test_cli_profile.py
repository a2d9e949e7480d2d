"""`smtp-profile show/set/test` as an operator runs them: locally and against a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.service import RunningService
from tests.support.smtp import Behaviour, SmtpServer, closed_port

COMMAND = str(Path(sys.executable).with_name("smtp-profile"))
CANARY = "Cli-Canary-Pa55-77aa"


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[
        str]:
    return subprocess.run([COMMAND, *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def local_env(data_dir: Path, ca_bundle: Path) -> dict[str, str]:
    return {"SMTP_PROFILE_DATA_DIR": str(data_dir), "SMTP_PROFILE_CA_BUNDLE": str(ca_bundle),
            "SMTP_PROFILE_CONNECT_TIMEOUT": "3", "SMTP_PROFILE_TEST_TIMEOUT": "10",
            "SMTP_PROFILE_LOCAL_HOSTNAME": "client.test"}


def test_set_show_and_test_on_the_local_data_dir(
        tmp_path: Path, ca_bundle: Path, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc@corp.local": CANARY}))
    env = local_env(tmp_path / "data", ca_bundle)
    saved = run("set", "--host", "localhost", "--port", str(relay.port), "--use-ssl",
                "--auth", "basic", "--username", "svc@corp.local", "--password-stdin",
                "--sender-account", "svc@corp.local", "--sender-name", "KF", env=env,
                stdin=CANARY + "\n")
    assert saved.returncode == 0, saved.stderr
    shown = run("show", env=env)
    assert "Host:            localhost" in shown.stdout
    assert "Relay password:  (stored; never shown)" in shown.stdout
    assert "Last test:       never" in shown.stdout

    tested = run("test", "pki@corp.local", env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    lines = tested.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:-1]] == [
        "resolve", "connect", "banner", "ehlo", "starttls", "certificate", "auth",
        "mail_from", "rcpt_to", "data", "quit"]
    assert all(line.split()[0] == "ok" for line in lines[1:-1])
    assert "\x1b[" not in tested.stdout  # no colour when piped
    assert "succeeded (delivered)" in lines[-1]
    assert relay.received[0].login == "svc@corp.local"

    verified = run("test", "pki@corp.local", "--verify-only", "--json", env=env)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["Mode"] == "verify"
    assert len(relay.received) == 1

    shown = json.loads(run("show", "--json", env=env).stdout)
    assert shown["Status"]["LastTest"]["Mode"] == "verify"
    assert shown["Status"]["LastTest"]["TestedBy"].startswith("cli:")
    everything = saved.stdout + shown.__repr__() + tested.stdout + verified.stdout
    assert CANARY not in everything


def test_failure_exit_codes_and_hints(tmp_path: Path, ca_bundle: Path,
                                      smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc": "right-password"}))
    env = local_env(tmp_path / "data", ca_bundle)
    run("set", "--host", "localhost", "--port", str(relay.port), "--use-ssl", "--auth",
        "basic", "--username", "svc", "--password-stdin", "--sender-account", "a@corp.local",
        "--sender-name", "KF", env=env, stdin=CANARY + "\n")
    failed = run("test", "pki@corp.local", env=env)
    assert failed.returncode == 1
    assert "FAILED   auth" in failed.stdout and "535" in failed.stdout
    assert "hint: Check RelayUsername and RelayPassword" in failed.stdout
    assert "skipped  mail_from" in failed.stdout and "FAILED at auth" in failed.stdout
    assert CANARY not in failed.stdout + failed.stderr

    moved = run("set", "--port", str(closed_port()), env=env)
    assert moved.returncode == 2
    assert "RelayPassword must be re-entered because Port changed" in moved.stderr
    invalid = run("test", "not-an-address", env=env)
    assert invalid.returncode == 2 and "TestRecipient" in invalid.stderr
    bad_auth = run("set", "--auth", "kerberos", env=env)
    assert bad_auth.returncode == 2


def test_against_a_running_server(service: RunningService,
                                  smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    env = {"SMTP_PROFILE_URL": service.url, "SMTP_PROFILE_PASSWORD": service.admin_password,
           "SMTP_PROFILE_DATA_DIR": "/nonexistent-on-purpose"}
    saved = run("set", "--host", "127.0.0.1", "--port", str(relay.port), "--sender-account",
                "kf@corp.local", "--sender-name", "KF", env=env)
    assert saved.returncode == 0, saved.stderr
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP").json()["Port"] == relay.port
    tested = run("test", "pki@corp.local", env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "ok       data" in tested.stdout
    assert len(relay.received) == 1
    status = json.loads(run("show", "--json", env=env).stdout)["Status"]
    assert status["LastTest"]["TestedBy"] == "admin"
    wrong = run("show", env={**env, "SMTP_PROFILE_PASSWORD": "wrong"})
    assert wrong.returncode == 2 and "user name or password is wrong" in wrong.stderr
    unreachable = run("show", env={**env, "SMTP_PROFILE_URL": f"http://127.0.0.1:{closed_port()}"})
    assert unreachable.returncode == 2 and "cannot reach the server" in unreachable.stderr
