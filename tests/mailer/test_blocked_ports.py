"""Blocked ports, named: when the relay's port is silent, the other usual submission
ports of the same host are tried (within the outbound policy and a small time budget,
all at once), so the hint can say which one answers.

A silent port on loopback, deterministically: a listening socket with a backlog of 0
whose one queue slot is taken by a connection nobody accepts. Linux then drops every
further SYN (the accept queue is full), so a connect gets no answer at all, exactly as
behind a firewall that drops packets. It listens on 127.0.0.1 and ::1 at the same port;
the relay's name resolves to both through the injected resolver. The answering port is
a real aiosmtpd on 127.0.0.1 only, so its IPv6 address refuses: each address is reported
with its own result.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smtp_profile.domain.outbound import OutboundPolicy, parse_ports
from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.steps import StepName
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from tests.support.resolver import StaticResolver
from tests.support.smtp import SmtpServer


def silent_port() -> tuple[int, list[socket.socket]]:
    """A port on 127.0.0.1 and ::1 that takes no connection and answers no SYN."""
    for _ in range(20):
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.bind(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            v6.bind(("::1", port))
        except OSError:
            v4.close()
            v6.close()
            continue
        held = [v4, v6]
        for listener, address in ((v4, "127.0.0.1"), (v6, "::1")):
            listener.listen(0)
            filler = socket.socket(listener.family, socket.SOCK_STREAM)
            filler.connect((address, port))  # takes the one slot of the accept queue
            held.append(filler)
        return port, held
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


def closed_port() -> int:
    """A port where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent() -> Iterator[int]:
    port, held = silent_port()
    yield port
    for sock in held:
        sock.close()


@pytest.fixture
def relay(smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server("plain")


def mailer_for(ca_bundle: Path, probe_ports: tuple[int, ...],
               policy: OutboundPolicy | None = None) -> Mailer:
    resolver = StaticResolver({"relay.test": ["127.0.0.1", "::1"]})
    return Mailer(MailerConfig(connect_timeout=0.5, test_timeout=5.0, ca_bundle=ca_bundle,
                               local_hostname="client.test", probe_ports=probe_ports,
                               port_probe_seconds=0.5, outbound=policy or OutboundPolicy()),
                  resolver=resolver)


def profile(port: int) -> Profile:
    return build_profile(ProfileDraft(host="relay.test", port=port, auth_type=0,
                                      use_ssl=False, sender_account="svc@corp.local",
                                      sender_name="PKI"), Profile())


def run(mailer: Mailer, profile: Profile) -> Report:
    async def go() -> Report:
        return await mailer.run(profile, "pki@corp.local",
                                resolution=await mailer.resolve(profile))
    return asyncio.run(go())


def connect_failure(report: Report) -> tuple[str, dict[str, object]]:
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.CONNECT, report.transcript
    assert failed.hint is not None
    return failed.hint, failed.details


def test_a_silent_port_is_named_blocked_when_another_answers_then_that_port_works(
        ca_bundle: Path, silent: int, relay: SmtpServer) -> None:
    closed = closed_port()
    mailer = mailer_for(ca_bundle, (relay.port, closed, silent))
    hint, details = connect_failure(run(mailer, profile(silent)))
    assert hint.startswith(f"Port {silent} is silent but {relay.port} answers: outbound port "
                           f"{silent} is probably blocked here")
    assert details["addresses"] == [
        {"address": "127.0.0.1", "port": silent, "result": "silent"},
        {"address": "::1", "port": silent, "result": "silent"}]
    assert details["other_ports"] == [
        {"address": "127.0.0.1", "port": relay.port, "result": "answers"},
        {"address": "127.0.0.1", "port": closed, "result": "refused"},
        {"address": "::1", "port": relay.port, "result": "refused"},
        {"address": "::1", "port": closed, "result": "refused"}]
    # Nothing was said on the probed port: a bare TCP connection, no SMTP.
    assert relay.received == []
    report = run(mailer, profile(relay.port))
    assert report.success, report.failure_summary()


def test_the_probe_stays_within_the_outbound_policy(
        ca_bundle: Path, silent: int, relay: SmtpServer) -> None:
    closed = closed_port()
    policy = OutboundPolicy(ports=parse_ports(f"{silent},{closed}"))
    mailer = mailer_for(ca_bundle, (relay.port, closed), policy)
    hint, details = connect_failure(run(mailer, profile(silent)))
    others = details["other_ports"]
    assert isinstance(others, list)
    assert {entry["port"] for entry in others} == {closed}
    assert hint.startswith(f"Port {silent} is silent while {closed} refuse the connection: "
                           "the host is reachable")


def test_no_port_to_try_keeps_the_plain_timeout_hint(ca_bundle: Path, silent: int) -> None:
    mailer = mailer_for(ca_bundle, (silent,))
    hint, details = connect_failure(run(mailer, profile(silent)))
    assert hint.startswith("No answer at all: a firewall may be dropping the connection")
    assert "other_ports" not in details


def test_every_port_silent_says_the_host_is_unreachable() -> None:
    from smtp_profile.mailer.diagnosis import PortAnswer, connect_failed
    failure = connect_failed(25, [("192.0.2.7", TimeoutError())], 10.0,
                             [PortAnswer("192.0.2.7", 587, "silent"),
                              PortAnswer("192.0.2.7", 465, "silent")])
    assert failure.hint == ("Port 25 is silent and so are the other usual submission ports "
                            "(465, 587): the host is down, or this machine cannot reach it at "
                            "all (routing, firewall, proxy-only network).")
