"""The relay connection's one owner: cancelled or failed, a test releases everything.

These drive the Mailer in-process on its own event loop, so the loop's transports can be
counted exactly: none may stay registered once a test ended, however it ended.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.steps import StepName, StepStatus
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.mailer import conversation
from smtp_profile.mailer.conversation import Mailer, MailerConfig
from tests.support.resolver import StaticResolver
from tests.support.smtp import LoopThread, ScriptedServer, SmtpServer, silent

RECIPIENT = "pki-admin@corp.local"


@pytest.fixture
def mailer(ca_bundle: Path, resolver: StaticResolver) -> Mailer:
    return Mailer(MailerConfig(connect_timeout=2.0, test_timeout=6.0, ca_bundle=ca_bundle,
                               local_hostname="client.test"), resolver=resolver)


def profile(port: int, *, use_ssl: bool = False) -> Profile:
    return build_profile(ProfileDraft(host="mail.test", port=port, use_ssl=use_ssl,
                                      sender_account="svc@corp.local", sender_name="KF"),
                         Profile())


def loop_transports(loop: asyncio.AbstractEventLoop) -> list[asyncio.BaseTransport]:
    """The transports this loop still has registered and open (a private table, read only
    here: it is exactly what "File descriptor N is used by transport" consults)."""
    table = getattr(loop, "_transports", {})
    return [t for t in list(table.values()) if t is not None and not t.is_closing()]


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def run(mailer: Mailer, target: Profile) -> Report:
    """A test as the service runs one: looked up once, then the conversation."""
    return await mailer.run(target, RECIPIENT, resolution=await mailer.resolve(target))


async def cancelled_after(mailer: Mailer, target: Profile, seconds: float) -> None:
    task = asyncio.create_task(run(mailer, target))
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("stage", ["banner", "starttls_handshake", "after_tls"])
def test_cancelled_tests_release_their_connection(
        stage: str, mailer: Mailer, loop_thread: LoopThread,
        server_context: ssl.SSLContext,
        scripted_server: Callable[..., ScriptedServer],
        smtp_server: Callable[..., SmtpServer]) -> None:
    """Cancelled while waiting for a greeting, inside a TLS handshake, or after TLS."""
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Greets, offers STARTTLS, says go ahead; then stalls in or after the handshake."""
        writer.write(b"220 mx.test\r\n")
        await reader.readline()
        writer.write(b"250-mx.test\r\n250 STARTTLS\r\n")
        await reader.readline()
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        if stage == "after_tls":
            await writer.start_tls(server_context)
        await reader.read()  # the ClientHello (or the EHLO after TLS) is never answered

    if stage == "banner":
        target = profile(scripted_server(silent).port)
    else:
        target = profile(scripted_server(stall).port, use_ssl=True)

    good = smtp_server()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        before = descriptors()
        for _ in range(3):
            await cancelled_after(mailer, target, 0.5)
            await asyncio.sleep(0)  # let aborted transports run connection_lost
            await asyncio.sleep(0)
            assert loop_transports(loop) == []
        report = await run(mailer, profile(good.port))
        assert report.success, report
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert loop_transports(loop) == []
        for _ in range(100):  # the servers' ends close as they see ours go (bounded)
            if descriptors() <= before:
                break
            await asyncio.sleep(0.05)
        assert descriptors() <= before

    asyncio.run(scenario())


def test_a_tls_failure_releases_the_descriptor_at_once(
        mailer: Mailer, loop_thread: LoopThread, tmp_path: Path,
        smtp_server: Callable[..., SmtpServer]) -> None:
    """An untrusted certificate, then at once a good test on the same loop: before, the
    probe's TLS transport kept the descriptor number registered for up to 30 s."""
    import trustme

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("mail.test").configure_cert(context)
    untrusted = SmtpServer(loop_thread, mode="starttls", server_context=context)
    good = smtp_server()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(3):
            failed = await run(mailer, profile(untrusted.port, use_ssl=True))
            assert failed.failed_step is not None
            assert failed.failed_step.name is StepName.CERTIFICATE
            assert loop_transports(loop) == []
            report = await run(mailer, profile(good.port))
            assert report.success, report.failure_summary()

    try:
        asyncio.run(scenario())
    finally:
        untrusted.close()


def test_an_internal_fault_is_reported_as_the_services_own(
        mailer: Mailer, monkeypatch: pytest.MonkeyPatch,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()

    async def broken(self: object) -> None:
        raise RuntimeError("a bug in this service")

    monkeypatch.setattr(conversation._Conversation, "_ehlo", broken)
    report = asyncio.run(run(mailer, profile(relay.port)))
    assert report.internal_error
    failed = report.failed_step
    assert failed is not None and failed.status is StepStatus.FAILED
    assert failed.name is StepName.EHLO
    assert "internal error of this service" in (failed.message or "")
    assert "a bug in this service" not in report.failure_summary()
    monkeypatch.undo()
    good = asyncio.run(run(mailer, profile(relay.port)))
    assert good.success and not good.internal_error
