"""`smtp-profile client-cert` as a new user runs it: a relay that relays only for a known
client certificate refuses the test at rcpt_to with a hint, then relays once the
certificate is set; locally on the data dir and against a server with --url."""

from __future__ import annotations

import base64
from pathlib import Path

import trustme
from typer.testing import CliRunner, Result

from smtp_profile.cli import app
from tests.support.client_certs import ClientIdentity, certificate_relay, client_auth_context
from tests.support.service import RunningService
from tests.support.smtp import LoopThread
from tests.test_cli_profile import local_env

P12_PASSWORD = "Canary-CliP12Password-3d2f"


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> Result:
    """The command in this process (a fresh interpreter per command costs seconds)."""
    return CliRunner().invoke(app, list(args), input=stdin, env=env, color=False)


def test_a_new_user_sets_the_certificate_the_relay_asks_for(
        tmp_path: Path, ca: trustme.CA, ca_bundle: Path, loop_thread: LoopThread) -> None:
    client_ca = trustme.CA()
    identity = ClientIdentity(client_ca, days=10)
    relay = certificate_relay(loop_thread, client_auth_context(
        ca.issue_cert("localhost", "127.0.0.1"), client_ca), {identity.sha256})
    p12 = tmp_path / "client.p12"
    p12.write_bytes(base64.b64decode(identity.pkcs12_base64(P12_PASSWORD)))
    env = local_env(tmp_path / "data", ca_bundle)
    try:
        saved = run("set", "--host", "localhost", "--port", str(relay.port), "--use-ssl",
                    "--auth", "anonymous", "--sender-account", "svc@corp.local",
                    "--sender-name", "KF", env=env)
        assert saved.exit_code == 0, saved.stderr
        refused = run("test", "pki@corp.local", "--verify-only", env=env)
        assert refused.exit_code != 0
        assert "FAILED   rcpt_to" in refused.stdout
        assert "relay asked for a client certificate, none set" in refused.stdout
        assert "smtp-profile client-cert set" in refused.stdout

        wrong = run("client-cert", "set", "--pkcs12", str(p12), "--password-stdin",
                    env=env, stdin="not-the-password\n")
        assert wrong.exit_code == 2 and "Pkcs12 cannot be opened" in wrong.stderr
        stored = run("client-cert", "set", "--pkcs12", str(p12), "--password-stdin",
                     env=env, stdin=P12_PASSWORD + "\n")
        assert stored.exit_code == 0, stored.stderr
        assert f"SHA-256:         {identity.sha256}" in stored.stdout

        relayed = run("test", "pki@corp.local", "--verify-only", env=env)
        assert relayed.exit_code == 0, relayed.stdout
        assert "client cert CN=mailer.corp.local presented" in relayed.stdout

        shown = run("show", env=env)
        assert "Warning:" in shown.stdout and "client certificate" in shown.stdout
        assert "expires in 9 days" in shown.stdout or "expires in 10 days" in shown.stdout
        for output in (saved, refused, wrong, stored, relayed, shown):
            assert P12_PASSWORD not in output.stdout + output.stderr
            assert "PRIVATE KEY" not in output.stdout + output.stderr
    finally:
        relay.close()


def test_show_set_and_remove_against_a_server(service: RunningService,
                                              tmp_path: Path) -> None:
    identity = ClientIdentity()
    (tmp_path / "c.pem").write_text(identity.certificate_pem)
    (tmp_path / "k.pem").write_text(identity.key_pem())
    env = {"SMTP_PROFILE_URL": service.url, "SMTP_PROFILE_PASSWORD": service.admin_password}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            "Host": "mail.test", "Port": 587, "UseSSL": True, "RelayAuthenticationType": 0,
            "SenderAccount": "svc@corp.local", "SenderName": "KF"}).raise_for_status()
    empty = run("client-cert", "show", env=env)
    assert empty.exit_code == 0 and "(none)" in empty.stdout
    stale = run("client-cert", "set", "--cert", str(tmp_path / "c.pem"), "--key",
                str(tmp_path / "k.pem"), "--if-match", '"client-certificate-7"', env=env)
    assert stale.exit_code == 2 and "0xA0110014" in stale.stderr
    stored = run("client-cert", "set", "--cert", str(tmp_path / "c.pem"), "--key",
                 str(tmp_path / "k.pem"), "--sasl-external", env=env)
    assert stored.exit_code == 0, stored.stderr
    shown = run("client-cert", "show", env=env)
    assert "Bound to:        mail.test:587 (UseSSL yes)" in shown.stdout
    assert "AUTH EXTERNAL:   when offered" in shown.stdout
    removed = run("client-cert", "remove", env=env)
    assert removed.exit_code == 0
    assert "(none)" in run("client-cert", "show", env=env).stdout
