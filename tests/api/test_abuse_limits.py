"""The operator's limits on Test and Diagnose: outbound targets, recipients, rate limits,
and the sign-in throttle, across instances sharing one database."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smtp_profile.domain.outbound import OutboundPolicy, parse_targets
from smtp_profile.domain.recipients import RecipientPolicy, parse_domains
from smtp_profile.domain.throttle import FREE_FAILURES
from smtp_profile.settings import Settings
from tests.api.test_smtp_routes import error
from tests.support.resolver import StaticResolver
from tests.support.service import (
    FrozenClock,
    RunningService,
    service_settings,
    start_service,
)
from tests.support.smtp import SmtpServer


def body(port: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"Host": "127.0.0.1", "Port": port, "SenderAccount": "a@corp.local",
                              "SenderName": "KF", "TestRecipient": "pki@corp.local"}
    values.update(overrides)
    return values


@pytest.fixture
def limited(tmp_path: Path, ca_bundle: Path) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []

    def start(clock: Callable[[], float] | None = None, **overrides: Any) -> RunningService:
        settings = service_settings(tmp_path / "data", ca_bundle, **overrides)
        running = start_service(settings, StaticResolver({"mail.test": ["127.0.0.1"]}),
                                clock=clock)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def audit_codes(service: RunningService, action: str) -> list[str | None]:
    with service.client() as client:
        records = client.get("/KeyfactorAPI/SMTP/Audit", params={"action": action}).json()
    return [r["ErrorCode"] for r in records]


def test_ports_outside_the_policy_are_refused_with_403(
        limited: Callable[..., RunningService], smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    service = limited(outbound=OutboundPolicy(ports=frozenset({25, 587})))
    with service.client() as client:
        refused = client.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port))
        diagnosed = client.post("/KeyfactorAPI/SMTP/Diagnose", json=body(relay.port))
    message = error(refused, 403, "0xA0110018")
    assert f"port {relay.port} is not among the ports tests may use" in message
    error(diagnosed, 403, "0xA0110018")
    assert relay.received == []
    assert audit_codes(service, "Test") == ["0xA0110018"]
    assert audit_codes(service, "Diagnose") == ["0xA0110018"]


def test_the_services_own_port_is_refused(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    own = sock.getsockname()[1]
    settings = service_settings(tmp_path / "own", None,
                                outbound=OutboundPolicy(own_ports=frozenset({own})))
    service = start_service(settings, sock=sock)
    try:
        with service.client() as client:
            response = client.post("/KeyfactorAPI/SMTP/Test", json=body(own))
    finally:
        service.stop()
    assert "this service's own port" in error(response, 403, "0xA0110018")


def test_hosts_outside_the_allowlist_are_refused_by_address(
        limited: Callable[..., RunningService], smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    networks, names = parse_targets("10.0.0.0/8, relay.corp.example")
    service = limited(outbound=OutboundPolicy(networks=networks, names=names))
    with service.client() as client:
        by_name = client.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port, Host="mail.test"))
        by_ip = client.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port))
    assert "mail.test (127.0.0.1) is not among the hosts" in error(by_name, 403, "0xA0110018")
    error(by_ip, 403, "0xA0110018")
    assert relay.received == []


def test_loopback_is_allowed_by_default_and_the_vetted_address_is_used(
        limited: Callable[..., RunningService], smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    service = limited()
    with service.client() as client:
        report = client.post("/KeyfactorAPI/SMTP/Diagnose",
                             json=body(relay.port, Host="mail.test")).json()
    assert report["Success"] is True
    resolve = report["Steps"][0]
    assert resolve["Name"] == "resolve" and resolve["Details"]["addresses"] == ["127.0.0.1"]
    assert "lookup_ms" in resolve["Details"]


def test_recipient_domains(limited: Callable[..., RunningService],
                           smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    service = limited(recipients=RecipientPolicy(parse_domains("corp.local, *.lab.example")))
    with service.client() as client:
        allowed = client.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port))
        sub = client.post("/KeyfactorAPI/SMTP/Test",
                          json=body(relay.port, TestRecipient="x@a.lab.example"))
        refused = client.post("/KeyfactorAPI/SMTP/Test",
                              json=body(relay.port, TestRecipient="victim@example.org"))
    assert allowed.status_code == 200 and sub.status_code == 200
    assert "example.org is not among them" in error(refused, 403, "0xA0110018")
    assert len(relay.received) == 2


def wait_for_a_fresh_minute_window() -> None:
    """The limit counts per clock minute; start where the next five seconds stay in it."""
    while time.time() % 60 > 50:
        time.sleep(1)


def test_tests_per_user_and_minute_hold_across_instances(
        limited: Callable[..., RunningService], smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    first = limited(tests_per_minute=3)
    second = limited(tests_per_minute=3)
    wait_for_a_fresh_minute_window()
    with first.client() as a, second.client() as b:
        assert a.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port)).status_code == 200
        assert b.post("/KeyfactorAPI/SMTP/Diagnose", json=body(relay.port)).status_code == 200
        assert a.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port)).status_code == 200
        refused = b.post("/KeyfactorAPI/SMTP/Test", json=body(relay.port))
    assert "more than 3 tests this minute" in error(refused, 429, "0xA0110019")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(relay.received) == 3


def test_failed_sign_ins_count_across_instances(limited: Callable[..., RunningService]) -> None:
    clock = FrozenClock()  # both instances' time, moved by the test only
    first, second = limited(clock=clock), limited(clock=clock)
    for _ in range(FREE_FAILURES):
        with first.client(password="guess-guess") as client:
            error(client.get("/KeyfactorAPI/SMTP"), 401, "0xA0110010")
    with second.client() as client:
        refused = client.get("/KeyfactorAPI/SMTP")
        error(refused, 429, "0xA0110017")
        assert refused.headers["retry-after"] == "1"
        clock.now += 1
        assert client.get("/KeyfactorAPI/SMTP").status_code == 200


def test_no_user_enumeration_through_messages(limited: Callable[..., RunningService]) -> None:
    service = limited()
    with httpx.Client(base_url=service.url,
                      headers={"x-keyfactor-requested-with": "APIClient"}) as client:
        known = client.get("/KeyfactorAPI/SMTP", auth=("admin", "wrong-password"))
        unknown = client.get("/KeyfactorAPI/SMTP", auth=("nobody-here", "wrong-password"))
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()


def test_settings_object_defaults() -> None:
    settings = Settings()
    assert settings.tests_per_minute == 30
    assert settings.outbound.refusal("relay", 587, ["127.0.0.1"]) is None
    assert settings.recipients.refusal("anyone@example.org") is None
