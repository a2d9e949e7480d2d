"""SMTP_PROFILE_CLEARTEXT_CREDENTIALS: credentials never cross an unencrypted connection
the operator has not allowed, and an allowed one is reported as a warning, not a plain
success."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smtp_profile.domain.cleartext import CleartextCredentials, cleartext_refusal
from tests.api.test_diagnose import basic, diagnose, failed, steps
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import Behaviour, SmtpServer

PASSWORD = "Cleartext-Canary-Pa55-77e1"
USERS = {"svc@corp.local": PASSWORD}


@pytest.fixture
def never_service(tmp_path: Path, ca_bundle: Path,
                  resolver: StaticResolver) -> Iterator[RunningService]:
    running = start_service(service_settings(tmp_path / "data", ca_bundle,
                                             cleartext_credentials="never"), resolver)
    yield running
    running.stop()


def test_never_refuses_auth_without_tls_then_sends_it_over_starttls(
        never_service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users=USERS))
    report = diagnose(never_service, basic(relay.port, PASSWORD, UseSSL=False))
    auth = failed(report, "auth")
    assert "SMTP_PROFILE_CLEARTEXT_CREDENTIALS=never" in auth["Message"]
    assert "not encrypted" in auth["Message"]
    assert "STARTTLS" in auth["Hint"]
    assert auth["Details"]["refused_by"] == "SMTP_PROFILE_CLEARTEXT_CREDENTIALS"
    # Nothing was sent: no AUTH line in the transcript, no login on the relay.
    assert not any(line.startswith("C: AUTH") for line in report["Transcript"])
    assert relay.received == []
    with never_service.client(version=2) as client:
        policy = client.get("/KeyfactorAPI/SMTP/Status").json()["TlsPolicy"]
    assert policy == {"ImplicitTlsPorts": [465], "CleartextCredentials": "never"}

    # The same instance, the same relay, with STARTTLS: the credentials go, encrypted.
    report = diagnose(never_service, basic(relay.port, PASSWORD, UseSSL=True))
    assert report["Success"] is True, report["Steps"]
    assert "warning" not in steps(report)["auth"]["Details"]
    assert relay.received[0].login == "svc@corp.local"


def test_loopback_allows_this_machine_and_says_it_was_in_clear_text(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("plain", Behaviour(users=USERS))
    report = diagnose(service, basic(relay.port, PASSWORD, UseSSL=False))
    assert report["Success"] is True, report["Steps"]
    assert steps(report)["auth"]["Details"]["warning"] == "credentials sent without TLS"
    with service.client(version=2) as client:
        policy = client.get("/KeyfactorAPI/SMTP/Status").json()["TlsPolicy"]
    assert policy["CleartextCredentials"] == "loopback"


@pytest.mark.parametrize(("policy", "address", "refused"), [
    (CleartextCredentials.LOOPBACK, "127.0.0.1", False),
    (CleartextCredentials.LOOPBACK, "127.10.0.3", False),
    (CleartextCredentials.LOOPBACK, "::1", False),
    (CleartextCredentials.LOOPBACK, "::ffff:127.0.0.1", False),
    (CleartextCredentials.LOOPBACK, "10.1.2.3", True),
    (CleartextCredentials.LOOPBACK, "192.168.1.25", True),
    (CleartextCredentials.LOOPBACK, "2001:db8::25", True),
    (CleartextCredentials.LOOPBACK, "not-an-address", True),
    (CleartextCredentials.NEVER, "127.0.0.1", True),
    (CleartextCredentials.ALLOW, "10.1.2.3", False),
])
def test_which_addresses_may_receive_credentials_in_clear_text(
        policy: CleartextCredentials, address: str, refused: bool) -> None:
    reason = cleartext_refusal(policy, address)
    assert (reason is not None) is refused
    if reason is not None:
        assert f"SMTP_PROFILE_CLEARTEXT_CREDENTIALS={policy.value}" in reason
