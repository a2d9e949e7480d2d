"""The `smtp-profile` command as a user runs it: serve, users, keys, environment variables."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trustme

from tests.support.service import REQUESTED_WITH, plain_settings, start_service

COMMAND = str(Path(sys.executable).with_name("smtp-profile"))


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([COMMAND, *args], input=stdin, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(data_dir: Path | None, env: dict[str, str] | None = None,
            cwd: Path | None = None, extra: tuple[str, ...] = (),
            verify: bool | ssl.SSLContext = True,
            ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    data_args = ["--data-dir", str(data_dir)] if data_dir else []
    process = subprocess.Popen(
        [COMMAND, "serve", "--port", str(port), *data_args, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )
    scheme = "https" if "--tls-cert" in extra else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1, verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        yield url, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def get_profile(url: str, user: str, password: str) -> httpx.Response:
    return httpx.get(f"{url}/KeyfactorAPI/SMTP", auth=(user, password), headers=REQUESTED_WITH)


@pytest.mark.slow
def test_first_start_creates_an_admin_with_a_random_password(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir) as (url, process):
        password_file = data_dir / "initial-admin-password"
        password = password_file.read_text().strip()
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert len(password) >= 20
        response = get_profile(url, "admin", password)
        assert response.status_code == 200
        assert response.json()["Id"] == 1
    output = process.stdout.read() if process.stdout else ""
    assert str(password_file.resolve()) in output
    assert password not in output
    with serving(data_dir) as (url, process):
        assert get_profile(url, "admin", password).status_code == 200
    assert "Created user" not in (process.stdout.read() if process.stdout else "")
    assert password_file.read_text().strip() == password


@pytest.mark.slow
def test_environment_variables_configure_serve(tmp_path: Path) -> None:
    data_dir = tmp_path / "env-data"
    env = {"SMTP_PROFILE_DATA_DIR": str(data_dir), "SMTP_PROFILE_BASE_PATH": "/api"}
    with serving(None, env=env, cwd=tmp_path) as (url, _):
        password = (data_dir / "initial-admin-password").read_text().strip()
        response = httpx.get(f"{url}/api/SMTP", auth=("admin", password),
                             headers=REQUESTED_WITH)
        assert response.status_code == 200
    assert not (tmp_path / "smtp-profile-data").exists()


def test_user_commands(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    added = run("user", "add", "Alice", "--permission", "/system_settings/read/",
                "--password-stdin", "--data-dir", data_dir, stdin="alice-password-1\n")
    assert "added user Alice" in added.stdout
    listing = run("user", "list", "--data-dir", data_dir).stdout
    assert "Alice" in listing and "/system_settings/read/" in listing
    assert "alice-password-1" not in listing
    duplicate = run("user", "add", "alice", "-p", "/system_settings/read/", "--password-stdin",
                    "--data-dir", data_dir, stdin="another-password\n", check=False)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    short = run("user", "add", "bob", "-p", "/system_settings/read/", "--password-stdin",
                "--data-dir", data_dir, stdin="short\n", check=False)
    assert short.returncode == 1 and "at least 8" in short.stderr
    unknown = run("user", "add", "bob", "-p", "/nope/", "--password-stdin", "--data-dir",
                  data_dir, stdin="long-enough-pw\n", check=False)
    assert unknown.returncode == 1 and "unknown permission" in unknown.stderr
    for unusable in ("bob@corp", "CORP\\bob", "bob:x"):  # sign-in reads these as other names
        refused = run("user", "add", unusable, "-p", "/system_settings/read/",
                      "--password-stdin", "--data-dir", data_dir, stdin="long-enough-pw\n",
                      check=False)
        assert refused.returncode == 1 and "without ':', '\\' or '@'" in refused.stderr
    assert "bob" not in run("user", "list", "--data-dir", data_dir).stdout

    settings = plain_settings(Path(data_dir))
    running = start_service(settings)
    try:
        assert get_profile(running.url, "alice", "alice-password-1").status_code == 200
        run("user", "passwd", "alice", "--password-stdin", "--data-dir", data_dir,
            stdin="alice-password-2\n")
        assert get_profile(running.url, "alice", "alice-password-1").status_code == 401
        assert get_profile(running.url, "alice", "alice-password-2").status_code == 200
        run("user", "remove", "ALICE", "--data-dir", data_dir)
        assert get_profile(running.url, "alice", "alice-password-2").status_code == 401
    finally:
        running.stop()
    missing = run("user", "remove", "alice", "--data-dir", data_dir, check=False)
    assert missing.returncode == 1 and "no user alice" in missing.stderr


def test_passwords_are_never_command_line_options() -> None:
    for command in (["user", "add"], ["user", "passwd"], ["serve"], ["rotate-key"], ["audit"]):
        help_text = run(*command, "--help").stdout
        assert "--password " not in help_text and "--secret-key" not in help_text
        assert "Example" in help_text


def test_rotate_key_re_encrypts_stored_secrets(tmp_path: Path) -> None:
    settings = plain_settings(tmp_path / "data")
    running = start_service(settings)
    with running.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            "Host": "mail.test", "Port": 587, "RelayAuthenticationType": 2,
            "RelayUsername": "svc", "RelayPassword": "rotate-me-canary",
            "SenderAccount": "svc@corp.local", "SenderName": "KF"}).raise_for_status()
    running.stop()
    key_file = settings.data_dir / "secret.key"
    old_key = key_file.read_text()
    result = run("rotate-key", "--data-dir", str(settings.data_dir))
    assert "re-encrypted 1 secret(s)" in result.stdout
    assert key_file.read_text() != old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (settings.data_dir / "secret.key.next").exists()
    assert running.runtime_password() == "rotate-me-canary"


def test_rotate_key_with_an_environment_key(tmp_path: Path) -> None:
    first = run("new-key").stdout.strip()
    second = run("new-key").stdout.strip()
    settings = plain_settings(tmp_path / "data", secret_key=first)
    running = start_service(settings)
    with running.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            "Host": "mail.test", "Port": 587, "RelayAuthenticationType": 2,
            "RelayUsername": "svc", "RelayPassword": "env-canary",
            "SenderAccount": "svc@corp.local", "SenderName": "KF"}).raise_for_status()
    running.stop()
    assert not (settings.data_dir / "secret.key").exists()
    env = {"SMTP_PROFILE_SECRET_KEY": first}
    refused = run("rotate-key", "--data-dir", str(settings.data_dir), env=env, check=False)
    assert refused.returncode == 1 and "--new-key-stdin" in refused.stderr
    run("rotate-key", "--new-key-stdin", "--data-dir", str(settings.data_dir), env=env,
        stdin=second + "\n")
    rotated = plain_settings(settings.data_dir, secret_key=second)
    restarted = start_service(rotated)
    try:
        assert restarted.runtime_password() == "env-canary"
    finally:
        restarted.stop()


def test_audit_command_prints_the_trail(tmp_path: Path) -> None:
    settings = plain_settings(tmp_path / "data")
    running = start_service(settings)
    try:
        with running.client() as client:
            client.put("/KeyfactorAPI/SMTP", json={
                "Host": "mail.test", "Port": 587, "RelayAuthenticationType": 2,
                "RelayUsername": "svc", "RelayPassword": "audit-cli-canary",
                "SenderAccount": "svc@corp.local", "SenderName": "KF"}).raise_for_status()
            assert client.put("/KeyfactorAPI/SMTP", json={"Port": 0}).status_code == 400
        assert get_profile(running.url, "mallory", "guess-1234").status_code == 401
    finally:
        running.stop()
    data = ["--data-dir", str(settings.data_dir)]
    lines = run("audit", *data).stdout.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "ACTION", "USER", "CLIENT", "OUTCOME",
                                "DETAILS"]
    assert len(lines) == 4
    assert lines[1].split()[2:6] == ["FailedAuthentication", "mallory", "127.0.0.1",
                                     "0xA0110010"]
    assert lines[2].split()[2:5] == ["Put", "admin", "127.0.0.1"]
    assert "0xA0110001" in lines[2] and "Host is required" in lines[2]
    assert lines[3].split()[2:6] == ["Put", "admin", "127.0.0.1", "ok"]
    assert 'Host: null -> "mail.test"' in lines[3] and "RelayPassword: changed" in lines[3]
    assert "audit-cli-canary" not in "\n".join(lines)

    records = json.loads(run("audit", "--json", "--action", "put", *data).stdout)
    assert [r["Success"] for r in records] == [False, True]
    assert {"Field": "Port", "Old": 25, "New": 587, "Secret": False} in records[1]["Changes"]
    assert json.loads(run("audit", "--json", "--limit", "1", *data).stdout)[0]["Action"] == (
        "FailedAuthentication")
    assert run("audit", "--since", "2100-01-01", *data).stdout.strip() == "no audit records"
    assert len(run("audit", "--since", "1h", "--until", "2100-01-01", *data)
               .stdout.splitlines()) == 4
    bad = run("audit", "--since", "last week", *data, check=False)
    assert bad.returncode == 1 and "--since 'last week' is not a time" in bad.stderr
    unknown = run("audit", "--action", "Delete", *data, check=False)
    assert unknown.returncode == 1 and "unknown audit action" in unknown.stderr


@pytest.mark.slow
def test_serve_over_https(tmp_path: Path, ca: trustme.CA, ca_bundle: Path) -> None:
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "api.crt", tmp_path / "api.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    data_dir = tmp_path / "data"
    extra = ("--tls-cert", str(cert_file), "--tls-key", str(key_file))
    trust = ssl.create_default_context(cafile=str(ca_bundle))
    with serving(data_dir, extra=extra, verify=trust) as (url, _):
        assert url.startswith("https://")
        password = (data_dir / "initial-admin-password").read_text().strip()
        response = httpx.get(f"{url}/KeyfactorAPI/SMTP", auth=("admin", password),
                             headers=REQUESTED_WITH, verify=trust)
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):  # the untrusted default store refuses it
            httpx.get(f"{url}/healthz")
    half = run("serve", "--tls-cert", str(cert_file), "--data-dir", str(data_dir), check=False)
    assert half.returncode == 1 and "go together" in half.stderr


def recorded_clients(url: str, password: str) -> list[str]:
    records = httpx.get(f"{url}/KeyfactorAPI/SMTP/Audit", auth=("admin", password),
                        headers=REQUESTED_WITH, params={"action": "FailedAuthentication"})
    return [r["ClientAddress"] for r in records.json()]


@pytest.mark.slow
@pytest.mark.parametrize(("trusted", "forwarded", "expected"), [
    ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
    # a proxy that appends: what the client wrote on the left is not believed
    ("127.0.0.1", "198.51.100.66, 203.0.113.7", "203.0.113.7"),
    ("", "203.0.113.7", "127.0.0.1"),
])
def test_forwarded_addresses_only_from_trusted_proxies(tmp_path: Path, trusted: str,
                                                       forwarded: str, expected: str) -> None:
    data_dir = tmp_path / "data"
    extra = ("--trusted-proxies", trusted) if trusted else ()
    with serving(data_dir, extra=extra) as (url, _):
        password = (data_dir / "initial-admin-password").read_text().strip()
        httpx.get(f"{url}/KeyfactorAPI/SMTP", auth=("admin", "wrong-password-1"),
                  headers={**REQUESTED_WITH, "X-Forwarded-For": forwarded})
        assert recorded_clients(url, password) == [expected]


@pytest.mark.slow
def test_token_endpoint_ports_configure_serve(tmp_path: Path) -> None:
    """The token endpoint ports reach the policy: a listed plain-http port passes it (the
    test then fails at the closed relay port), another one is refused before anything."""
    data_dir = tmp_path / "token-ports"
    listed, unlisted = free_port(), free_port()
    env = {"SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS": f"{listed}"}
    with serving(data_dir, env=env, extra=("--token-endpoint-ports", "8443")) as (url, _):
        password = (data_dir / "initial-admin-password").read_text().strip()

        def test_with(endpoint: str) -> httpx.Response:
            return httpx.post(f"{url}/KeyfactorAPI/SMTP/Test", auth=("admin", password),
                              headers={**REQUESTED_WITH, "x-keyfactor-api-version": "2"},
                              timeout=30, json={
                                  "Host": "127.0.0.1", "Port": free_port(), "UseSSL": True,
                                  "RelayAuthenticationType": 3, "SenderAccount": "a@corp.local",
                                  "SenderName": "KF", "TestRecipient": "pki@corp.local",
                                  "ClientId": {"SecretValue": "client-1"},
                                  "ClientSecret": {"SecretValue": "s"},
                                  "TokenEndpoint": endpoint})

        passed = test_with(f"http://127.0.0.1:{listed}/token")
        refused = test_with(f"http://127.0.0.1:{unlisted}/token")
        https_refused = test_with("https://127.0.0.1:443/token")
    assert passed.status_code == 400 and "step 'connect'" in passed.json()["Message"]
    assert refused.status_code == 403
    assert "SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS" in refused.json()["Message"]
    assert https_refused.status_code == 403
    assert "port 443 is not among the ports token endpoints" in https_refused.json()["Message"]


def test_bad_token_endpoint_ports_stop_serve(tmp_path: Path) -> None:
    result = run("serve", "--data-dir", str(tmp_path / "d"), "--token-endpoint-ports", "https",
                 check=False)
    assert result.returncode != 0
    assert "'https' is not a port" in result.stderr


def test_a_corrupt_key_file_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret.key").write_bytes(b"\x00\xff\xfe corrupt \x80\n")
    for command in (["rotate-key"], ["user", "list"], ["serve", "--port", "1"]):
        result = run(*command, "--data-dir", str(data_dir), check=False)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert f"key file {data_dir / 'secret.key'} is corrupt" in result.stderr, result.stderr


def test_rotate_key_bumps_the_version_so_a_running_instance_reads_anew(
        tmp_path: Path) -> None:
    settings = plain_settings(tmp_path / "data")
    running = start_service(settings)
    try:
        with running.client() as client:
            client.put("/KeyfactorAPI/SMTP", json={
                "Host": "mail.test", "Port": 587, "RelayAuthenticationType": 2,
                "RelayUsername": "svc", "RelayPassword": "rotate-me-canary",
                "SenderAccount": "svc@corp.local", "SenderName": "KF"}).raise_for_status()
            before = client.get("/KeyfactorAPI/SMTP").headers["ETag"]
            run("rotate-key", "--data-dir", str(settings.data_dir))
            after = client.get("/KeyfactorAPI/SMTP")
            assert after.status_code == 200 and after.headers["ETag"] != before
            stale = client.put("/KeyfactorAPI/SMTP", headers={"If-Match": before}, json={
                "Host": "other.test", "Port": 587, "RelayAuthenticationType": 0,
                "SenderAccount": "svc@corp.local", "SenderName": "KF"})
            assert stale.status_code == 412, stale.text
    finally:
        running.stop()
    assert running.runtime_password() == "rotate-me-canary"
