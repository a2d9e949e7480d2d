"""A relay password that lives in a real PAM provider type, end to end: the External-Command
type (pam/command.py, a real executable) configured through /PamProviders, a version-2 PUT
that names it, a Test that delivers to a loopback relay with the fetched password, the
password rotated at its source, and a Diagnose that follows; the provider made to fail,
then to work again, on the same running service."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import Behaviour, SmtpServer

PROVIDERS = "/KeyfactorAPI/PamProviders"
SMTP = "/KeyfactorAPI/SMTP"
FIRST = "Canary-CommandFetched-51e0"
ROTATED = "Canary-CommandRotated-9a2f"
CAT = shutil.which("cat") or "/bin/cat"


@pytest.fixture
def service(tmp_path: Path, ca_bundle: Path, resolver: Any) -> Iterator[RunningService]:
    running = start_service(service_settings(tmp_path / "data", ca_bundle), resolver)
    yield running
    running.stop()


def command_provider() -> dict[str, Any]:
    return {"Name": "cat", "ProviderType": {"Name": "External-Command"},
            "ProviderTypeParamValues": [
                {"ProviderTypeParam": {"Name": "Executable"}, "Value": CAT},
                {"ProviderTypeParam": {"Name": "Arguments"},
                 "Value": json.dumps(["{Secret}"])}]}


def test_a_password_from_a_command_delivers_follows_a_rotation_and_a_failure(
        service: RunningService, tmp_path: Path,
        smtp_server: Callable[..., SmtpServer]) -> None:
    secret_file = tmp_path / "relay-password"
    secret_file.write_text(FIRST + "\n")
    behaviour = Behaviour(users={"svc@corp.local": FIRST})
    relay = smtp_server(behaviour=behaviour)
    with service.client(version=2) as v2:
        added = v2.post(PROVIDERS, json=command_provider())
        assert added.status_code == 200, added.text
        provider_id = added.json()["Id"]
        profile = {"Host": "mail.test", "Port": relay.port, "UseSSL": False,
                   "RelayAuthenticationType": 2,
                   "RelayUsername": {"SecretValue": "svc@corp.local"},
                   "RelayPassword": {"SecretValue": None, "Provider": provider_id,
                                     "Parameters": {"Secret": str(secret_file)}},
                   "SenderAccount": "svc@corp.local", "SenderName": "KF"}
        stored = v2.put(SMTP, json=profile)
        assert stored.status_code == 200, stored.text
        assert stored.json()["RelayPassword"]["SecretValue"] is None
        assert FIRST not in stored.text

        sent = v2.post(f"{SMTP}/Test", json={**profile, "TestRecipient": "pki@corp.local"})
        assert sent.status_code == 200, sent.text
        assert relay.received[-1].login == "svc@corp.local"

        # rotated at the source: a Diagnose fetches afresh and signs in with the new value
        secret_file.write_text(ROTATED + "\n")
        behaviour.users["svc@corp.local"] = ROTATED
        report = v2.post(f"{SMTP}/Diagnose", json={"TestRecipient": "pki@corp.local"})
        assert report.status_code == 200 and report.json()["Success"], report.text

        # the source gone: the secret step fails before any connection, then works again
        secret_file.unlink()
        failed = v2.post(f"{SMTP}/Diagnose", json={"TestRecipient": "pki@corp.local"}).json()
        assert not failed["Success"]
        step = failed["Steps"][0]
        assert (step["Name"], step["Status"]) == ("secret", "failed")
        assert failed["Steps"][1]["Status"] == "skipped"
        secret_file.write_text(ROTATED + "\n")
        again = v2.post(f"{SMTP}/Diagnose", json={"TestRecipient": "pki@corp.local"}).json()
        assert again["Success"], again
        text = json.dumps([failed, again])
        assert FIRST not in text and ROTATED not in text
    assert len(relay.received) == 3
