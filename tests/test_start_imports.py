"""A started service loads only what its started features use (issue 20, item 5).

`smtp-profile serve` with its defaults (SQLite, passwords, no identity provider) is
restarted in a fresh interpreter the way `serve` starts it (the CLI package, `prepare`,
`Runtime.open`, `create_app`, uvicorn on loopback) and answers an authenticated GET; the
modules that only OAuth relays, a Vault, AWS, an identity provider, PostgreSQL, a
migration or a stored secret need must not be loaded by then (a first start, which migrates, loads
Alembic). Each is imported at its first use instead, which the same process then shows
for the OAuth token client and the secret box (so the check cannot pass by looking at
the wrong thing).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import argon2

from smtp_profile.usecases.accounts import unmatchable_hash

HEAVY = (
    "cryptography", "httpx", "pydantic.v1", "jwt", "boto3", "botocore", "alembic", "psycopg",
    "rich", "pygments",
    "sqlalchemy.dialects.postgresql",
    "smtp_profile.oauth.token", "smtp_profile.mailer.xoauth2",
    "smtp_profile.identity.provider",
)

STARTED = r"""
import http.client, base64, json, socket, sys, threading, time
from pathlib import Path
from typing import Any

import smtp_profile.cli  # the console script's import: every command registers
import uvicorn
from smtp_profile.runtime import Runtime, prepare
from smtp_profile.server.app import create_app
from smtp_profile.server.listener import server_config
from smtp_profile.settings import Settings
from smtp_profile.wire import models

data_dir, heavy = Path(sys.argv[1]), json.loads(sys.argv[2])
PROFILE = {"Host": "relay.corp.example", "Port": 587, "UseSSL": True,
           "RelayAuthenticationType": 2, "RelayUsername": "svc", "RelayPassword": "pw-1",
           "SenderAccount": "keyfactor@corp.example", "SenderName": "Keyfactor"}
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
settings = Settings(data_dir=data_dir, port=port).serving()
prepare(settings)
runtime = Runtime.open(settings)
config = server_config(create_app(runtime), settings, host="127.0.0.1", port=port,
                       log_level="warning", access_log=False, trusted_proxies=())
server = uvicorn.Server(config)
report = {}

def client() -> None:
    while not server.started:
        time.sleep(0.01)
    password = (data_dir / "initial-admin-password").read_text().strip()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/KeyfactorAPI/SMTP", headers={
        "x-keyfactor-requested-with": "APIClient",
        "Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
    answer = connection.getresponse()
    answer.read()
    report["status"] = answer.status
    report["loaded"] = sorted(m for m in heavy if m in sys.modules)
    if sys.argv[3] == "put":  # a profile with a password: the restart finds it sealed
        connection.request("PUT", "/KeyfactorAPI/SMTP", body=json.dumps(PROFILE), headers={
            "x-keyfactor-requested-with": "APIClient", "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(
                f"admin:{password}".encode()).decode()})
        put = connection.getresponse()
        report["put"] = [put.status, put.read().decode()]
    report["unbuilt"] = [name for name in ("ProfileV2In", "DiagnoseV1In", "TestV2In")
                         if not getattr(models, name).__pydantic_complete__]
    runtime.mailer.tokens  # the first OAuth relay's test builds the token client
    report["after_oauth"] = sorted(m for m in heavy if m in sys.modules)
    runtime.box.open(runtime.box.seal("probe", "probe"), "probe")  # a PUT's or Test's secret
    report["after_secret"] = sorted(m for m in heavy if m in sys.modules)
    server.should_exit = True

threading.Thread(target=client, daemon=True).start()
server.run()
print(json.dumps(report))
"""


def started(tmp_path: Path, then: str = "") -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_PROFILE_")}
    done = subprocess.run(
        [sys.executable, "-c", STARTED, str(tmp_path / "data"), json.dumps(HEAVY), then],
        capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_started_service_loads_no_optional_module_until_it_is_used(tmp_path: Path) -> None:
    first = started(tmp_path, "put")  # an empty data dir: the schema is created by Alembic
    assert first["status"] == 200
    assert "alembic" in first["loaded"]
    assert first["put"][0] == 200, first["put"]
    with sqlite3.connect(tmp_path / "data" / "smtp-profile.db") as database:
        (sealed,) = database.execute("SELECT password_sealed FROM smtp_profile").fetchone()
    assert sealed is not None and b"pw-1" not in sealed
    report = started(tmp_path)  # a restart with a password stored: nothing to migrate
    assert report["status"] == 200
    assert report["loaded"] == []  # the stored password's key checked, the value not opened
    assert report["unbuilt"] == ["ProfileV2In", "DiagnoseV1In", "TestV2In"]
    # Used, they load: the token client brings httpx and PyJWT with it.
    assert {"httpx", "jwt", "smtp_profile.oauth.token"} <= set(report["after_oauth"])
    # Sealing or opening a secret brings `cryptography` (10 MB of native code resident).
    assert "cryptography" in report["after_secret"]


def test_the_unknown_user_hash_costs_what_a_real_one_costs_and_matches_nothing() -> None:
    hasher = argon2.PasswordHasher()
    dummy = unmatchable_hash(hasher)
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(hasher.hash("x"))
    assert dummy != unmatchable_hash(hasher)  # a random salt and digest each time
    for password in ("", "x", "admin"):
        try:
            hasher.verify(dummy, password)
        except argon2.exceptions.VerifyMismatchError:
            continue
        raise AssertionError(f"the unmatchable hash matched {password!r}")
