"""The service's own bookkeeping of a test, in-process against real relays on loopback:
a caller that is cancelled, a service that stops mid-test, and a fault of the service
itself. Each ends in the audit trail; none leaves a false last test behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, AuditQuery
from smtp_profile.domain.steps import StepName
from smtp_profile.mailer import conversation
from smtp_profile.runtime import Runtime, prepare
from smtp_profile.wire import v1
from tests.api.test_hang_ups import HeldRelay
from tests.api.test_test_email import relay_body
from tests.support.resolver import StaticResolver
from tests.support.service import service_settings
from tests.support.smtp import LoopThread, SmtpServer

ADMIN = Actor("admin", "127.0.0.1")
WAIT_SECONDS = 30.0


async def reached(held: HeldRelay) -> None:
    """Until the test is held at MAIL FROM (a bound on waiting, not a speed check)."""
    assert await asyncio.to_thread(held.arrived.wait, WAIT_SECONDS), "never at MAIL FROM"


async def recorded_tests(runtime: Runtime) -> list[Any]:
    page = await runtime.audit.list(AuditQuery(actions=frozenset({AuditAction.TEST})))
    return list(page.records)


def open_runtime(tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
                 **overrides: object) -> Runtime:
    settings = service_settings(tmp_path / "data", ca_bundle, **overrides)
    prepare(settings)
    return Runtime.open(settings, resolver=resolver)


async def store_profile(runtime: Runtime, port: int) -> None:
    draft, _ = v1.decode_test({k: v for k, v in relay_body(port).items()})
    await runtime.service.replace(draft, actor=ADMIN)


def test_a_cancelled_caller_does_not_cancel_the_test(
        tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
        smtp_server: Callable[..., SmtpServer], loop_thread: LoopThread) -> None:
    """A server that cancels the request of a client who hung up (as ASGI servers may)."""
    held = HeldRelay(smtp_server(), loop_thread)

    async def scenario() -> None:
        runtime = open_runtime(tmp_path, ca_bundle, resolver)
        try:
            await store_profile(runtime, held.relay.port)
            caller = asyncio.create_task(runtime.service.test(None, None, actor=ADMIN))
            await reached(held)
            caller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await caller
            held.release()
            await runtime.service.drain(grace=WAIT_SECONDS)  # the test, still running
            [record] = await recorded_tests(runtime)
            assert record.outcome.success is True
            last = await runtime.service.status()
            assert last.last_test is not None and last.last_test.success is True
            # ... and the next test on the same instance.
            outcome = await runtime.service.test(None, None, actor=ADMIN)
            assert outcome.report.success is True
            assert len(await recorded_tests(runtime)) == 2
        finally:
            await runtime.close()

    asyncio.run(scenario())
    assert len(held.relay.received) == 2


def test_a_test_the_service_stops_is_recorded_as_abandoned(
        tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
        smtp_server: Callable[..., SmtpServer], loop_thread: LoopThread) -> None:
    held = HeldRelay(smtp_server(), loop_thread)

    async def scenario() -> list[Any]:
        runtime = open_runtime(tmp_path, ca_bundle, resolver)
        try:
            await store_profile(runtime, held.relay.port)
            caller = asyncio.create_task(runtime.service.test(None, None, actor=ADMIN))
            await reached(held)
            await runtime.service.drain(grace=0)
            with pytest.raises(asyncio.CancelledError):
                await caller
            records = await recorded_tests(runtime)
            assert (await runtime.service.status()).last_test is None
            return records
        finally:
            held.release()
            await runtime.close()

    [record] = asyncio.run(scenario())
    assert record.outcome.success is False and record.outcome.error_code == "0xA0110020"
    assert "abandoned after step 'EHLO'" in (record.outcome.message or "")
    assert record.detail.startswith("test ")


def test_an_internal_error_is_recorded_but_never_saved_as_the_last_test(
        tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
        smtp_server: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch) -> None:
    relay = smtp_server()
    original = conversation._Conversation._mail_from

    async def broken(self: conversation._Conversation, *args: Any) -> None:
        async with self.rec.step(StepName.MAIL_FROM):
            raise RuntimeError("injected fault of the service")

    async def scenario() -> None:
        runtime = open_runtime(tmp_path, ca_bundle, resolver)
        try:
            await store_profile(runtime, relay.port)
            monkeypatch.setattr(conversation._Conversation, "_mail_from", broken)
            outcome = await runtime.service.test(None, None, actor=ADMIN)
            assert outcome.report.internal_error and not outcome.report.success
            [record] = await recorded_tests(runtime)
            assert record.outcome.success is False
            assert (await runtime.service.status()).last_test is None

            # The same instance, the fault gone: a good test is saved as the last one.
            monkeypatch.setattr(conversation._Conversation, "_mail_from", original)
            good = await runtime.service.test(None, None, actor=ADMIN)
            assert good.report.success and not good.report.internal_error
            last = (await runtime.service.status()).last_test
            assert last is not None and last.test_id == good.report.test_id
            assert last.success is True
        finally:
            await runtime.close()

    asyncio.run(scenario())
    assert len(relay.received) == 1
