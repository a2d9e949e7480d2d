"""`smtp-profile options show/set` as an operator runs them: locally and against a server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import trustme

from tests.api.test_audit import audit
from tests.support.service import RunningService
from tests.test_cli_profile import local_env, run

PIN = hashlib.sha256(b"the relay's certificate").hexdigest()


def test_show_and_set_on_the_local_data_dir(tmp_path: Path, ca_bundle: Path) -> None:
    env = local_env(tmp_path / "data", ca_bundle)
    shown = run("options", "show", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Trust:           system" in shown.stdout
    assert "CA bundle:       none" in shown.stdout

    relay_ca = tmp_path / "relay-ca.pem"
    relay_ca.write_bytes(trustme.CA().cert_pem.bytes())
    saved = run("options", "set", "--ca-bundle", str(relay_ca), "--mechanism", "login",
                env=env)
    assert saved.returncode == 0, saved.stderr
    assert "Trust:           bundle" in saved.stdout
    assert "CA bundle:       1 certificate(s)" in saved.stdout
    options = json.loads(run("options", "show", "--json", env=env).stdout)
    assert options["CaBundle"].startswith("-----BEGIN CERTIFICATE-----")
    assert options["Mechanism"] == "LOGIN" and options["Trust"] == "bundle"

    colons = ":".join(PIN[i:i + 2] for i in range(0, 64, 2)).upper()
    pinned = run("options", "set", "--pin", colons, env=env)
    assert pinned.returncode == 0, pinned.stderr
    options = json.loads(run("options", "show", "--json", env=env).stdout)
    assert options["PinnedSha256"] == PIN and options["Trust"] == "pinned"
    assert options["CaBundle"] is not None and options["Mechanism"] == "LOGIN"

    for args, wording in ((["--pin", "xyz"], "PinnedSha256"),
                          ([], "nothing to change"),
                          (["--pin", PIN, "--no-pin"], "contradict"),
                          (["--ca-bundle", str(tmp_path / "missing.pem")], "--ca-bundle"),
                          (["--mechanism", "GSSAPI"], "Mechanism")):
        refused = run("options", "set", *args, env=env)
        assert refused.returncode == 2, refused.stdout
        assert wording in refused.stderr
    assert json.loads(run("options", "show", "--json", env=env).stdout) == options

    cleared = run("options", "set", "--no-pin", "--no-ca-bundle", "--mechanism", "auto",
                  env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(run("options", "show", "--json", env=env).stdout) == {
        "CaBundle": None, "PinnedSha256": None, "Insecure": False, "Mechanism": "auto",
        "Trust": "system"}
    trail = run("audit", "--action", "Options", env=env).stdout.splitlines()[1:]
    assert len(trail) == 3 and all(" ok " in f" {line} " for line in trail), trail


def test_show_and_set_against_a_running_server(service: RunningService) -> None:
    env = {"SMTP_PROFILE_URL": service.url, "SMTP_PROFILE_PASSWORD": service.admin_password,
           "SMTP_PROFILE_DATA_DIR": "/nonexistent-on-purpose"}
    insecure = run("options", "set", "--insecure", env=env)
    assert insecure.returncode == 0, insecure.stderr
    assert "certificate verification is off" in insecure.stderr
    shown = run("options", "show", env=env)
    assert "Trust:           insecure -- certificates are NOT verified" in shown.stdout
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP/Options").json()["Insecure"] is True
    secure = run("options", "set", "--no-insecure", "--pin", PIN, "--json", env=env)
    assert secure.returncode == 0, secure.stderr
    assert json.loads(secure.stdout)["Trust"] == "pinned"
    records = audit(service, action="Options")
    assert [r["User"] for r in records] == ["admin", "admin"]
    assert all(r["Success"] for r in records)
    wrong = run("options", "show", env={**env, "SMTP_PROFILE_PASSWORD": "wrong"})
    assert wrong.returncode == 2 and "user name or password is wrong" in wrong.stderr
