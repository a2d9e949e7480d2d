"""Each failure pinned to its stage, from servers that really fail that way.

Implicit TLS is the subtle case: aiosmtplib does the handshake and reads the greeting in
one `connect()`, and which of handshake, certificate and greeting failed is told by the
exception's type and cause. Should a new aiosmtplib raise them differently, these say so.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.steps import StepName, StepStatus
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from smtp_profile.mailer.failures import StepFailure, failure_at
from tests.support.resolver import StaticResolver
from tests.support.smtp import ScriptedServer, silent

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


def test_every_step_has_a_failure_type_that_carries_it() -> None:
    for name in StepName:
        failure = failure_at(name)("why", hint="what to do")
        assert isinstance(failure, StepFailure)
        assert failure.step is name and failure.hint == "what to do"
        assert str(failure) == "why"


def implicit_test(port: int, ca_bundle: Path, resolver: StaticResolver, *,
                  test_timeout: float = 4.0) -> Report:
    mailer = Mailer(MailerConfig(connect_timeout=1.0, test_timeout=test_timeout,
                                 ca_bundle=ca_bundle, local_hostname="client.test",
                                 implicit_tls_ports=frozenset({port})), resolver=resolver)
    profile = build_profile(ProfileDraft(host="mail.test", port=port, use_ssl=True,
                                         sender_account="svc@corp.local", sender_name="KF"),
                            Profile())

    async def run() -> Report:
        return await mailer.run(profile, "pki-admin@corp.local",
                                resolution=await mailer.resolve(profile))

    return asyncio.run(run())


def statuses(report: Report) -> dict[StepName, StepStatus]:
    return {step.name: step.status for step in report.steps}


async def refuses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"554 5.7.1 no service for you\r\n")
    await writer.drain()
    await reader.read()


async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Returns at once: the connection is closed (after the handshake, over TLS)."""


async def speaks_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\nServer: secret-internal-thing\r\n\r\n")
    await writer.drain()
    await reader.read()


GREETING_FAILURES = [
    pytest.param(refuses, "the server refused the connection (554)", id="refused"),
    pytest.param(silent, "the server accepted the connection but sent no greeting within 1 s",
                 id="silent"),
    pytest.param(hangs_up, "the server closed the connection during the greeting",
                 id="hangs-up"),
    pytest.param(speaks_http, "not an SMTP server: the answer to the TLS connection is not "
                 "an SMTP reply", id="not-smtp"),
]


@pytest.mark.parametrize(("handle", "message"), GREETING_FAILURES)
def test_a_greeting_failure_after_a_good_handshake_fails_the_banner(
        handle: Handler, message: str, ca_bundle: Path, resolver: StaticResolver,
        server_context: ssl.SSLContext,
        scripted_server: Callable[..., ScriptedServer]) -> None:
    relay = scripted_server(handle, server_context)
    report = implicit_test(relay.port, ca_bundle, resolver)
    banner = report.step(StepName.BANNER)
    assert banner is not None and banner.status is StepStatus.FAILED
    assert banner.message == message and banner.hint
    seen = statuses(report)
    assert seen[StepName.TLS] is seen[StepName.CERTIFICATE] is StepStatus.OK
    assert seen[StepName.EHLO] is StepStatus.SKIPPED
    assert "secret-internal-thing" not in repr(report)


HANDSHAKE_FAILURES = [
    pytest.param(silent, "no answer to the TLS handshake within 1 s", id="silent"),
    pytest.param(hangs_up, "the server closed the connection during the TLS handshake",
                 id="hangs-up"),
]


@pytest.mark.parametrize(("handle", "message"), HANDSHAKE_FAILURES)
def test_a_handshake_failure_fails_the_tls_step(
        handle: Handler, message: str, ca_bundle: Path, resolver: StaticResolver,
        scripted_server: Callable[..., ScriptedServer]) -> None:
    relay = scripted_server(handle)  # no TLS on the server's side
    report = implicit_test(relay.port, ca_bundle, resolver)
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.TLS
    assert failed.message == message and failed.hint
    assert statuses(report)[StepName.CERTIFICATE] is StepStatus.SKIPPED


def test_the_deadline_running_out_in_the_certificate_probe_fails_the_certificate(
        ca_bundle: Path, resolver: StaticResolver,
        scripted_server: Callable[..., ScriptedServer]) -> None:
    """An untrusted relay that never greets: the probe fetching its certificate waits for
    a greeting longer than the test may last. This used to record nothing at all and
    read as a success."""
    untrusted = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("mail.test").configure_cert(untrusted)
    relay = scripted_server(silent, untrusted)
    report = implicit_test(relay.port, ca_bundle, resolver, test_timeout=2.0)
    assert not report.success
    failed = report.failed_step
    assert failed is not None and failed.name is StepName.CERTIFICATE
    assert failed.message == "no answer during certificate within the test time limit of 2 s"
    assert statuses(report)[StepName.TLS] is StepStatus.OK
