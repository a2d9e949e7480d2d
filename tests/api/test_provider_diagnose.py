"""POST /SMTP/Diagnose against Exchange Online (a loopback relay named
smtp.office365.com): the report's Warnings carry Microsoft's Basic-auth dates and, for a
verify run, the caveat that send-as rights are only checked after DATA."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from tests.support.providers import PROVIDER_NAMES, ProviderRelay, provider_context
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, LoopThread

PASSWORD = "Diagnose-Deadline-Pa55"
MAILBOX = "svc@contoso.example"


@pytest.fixture
def resolver() -> StaticResolver:
    return StaticResolver({name: ["127.0.0.1"] for name in PROVIDER_NAMES})


@pytest.fixture
def exchange(loop_thread: LoopThread, ca: trustme.CA) -> Iterator[ProviderRelay]:
    context: ssl.SSLContext = provider_context(ca)
    relay = ProviderRelay(loop_thread, context, Behaviour(users={MAILBOX: PASSWORD}))
    yield relay
    relay.close()


def test_a_verify_diagnose_of_basic_auth_to_exchange_online_warns_twice(
        service: RunningService, exchange: ProviderRelay) -> None:
    body = {"Host": "smtp.office365.com", "Port": exchange.port, "UseSSL": True,
            "RelayAuthenticationType": 2, "RelayUsername": MAILBOX,
            "RelayPassword": PASSWORD, "SenderAccount": MAILBOX, "SenderName": "PKI",
            "TestRecipient": "pki@contoso.example", "Mode": "verify"}
    with service.client(version=1) as client:
        response = client.post("/KeyfactorAPI/SMTP/Diagnose", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["Success"] is True
    warnings = {w["Code"]: w for w in report["Warnings"]}
    assert set(warnings) == {"microsoft-basic-auth-retirement", "send-as-checked-after-data"}
    deadline = warnings["microsoft-basic-auth-retirement"]
    assert deadline["Severity"] in ("warning", "critical")
    assert "RelayAuthenticationType 3" in deadline["Message"]
    assert deadline["Link"].startswith("https://learn.microsoft.com/")
    caveat = warnings["send-as-checked-after-data"]
    assert caveat == {"Code": "send-as-checked-after-data", "Severity": "info",
                      "Message": caveat["Message"], "Date": None, "Link": caveat["Link"]}
    assert "Only a send run (Mode send) proves it." in caveat["Message"]
    assert PASSWORD not in response.text
