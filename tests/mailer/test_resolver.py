"""`resolve_once`: one look-up, bounded by the connect timeout. A look-up that does not
answer in time becomes a failed Resolution (EAI_AGAIN, "the lookup timed out") that
the Test reports at step `resolve`, its look-up stopped, nothing left running; the next
look-up on the same loop answers as usual. An IP literal is answered without asking."""

from __future__ import annotations

import asyncio
import socket

from smtp_profile.mailer.resolver import ResolvedAddress, SystemResolver, resolve_once


class SilentResolver:
    """A resolver that never answers until released: a DNS server gone quiet."""

    def __init__(self) -> None:
        self.cancelled = False

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


def test_a_silent_lookup_times_out_then_the_next_one_answers() -> None:
    async def scenario() -> None:
        silent = SilentResolver()
        tasks_before = len(asyncio.all_tasks())
        async with asyncio.timeout(10):  # without its own bound, this fails, not hangs
            failed = await resolve_once(silent, "relay.example.test", 587, 0.05)
        assert failed.addresses == []
        assert isinstance(failed.error, socket.gaierror)
        assert failed.error.errno == socket.EAI_AGAIN
        assert "the lookup timed out" in str(failed.error)
        assert silent.cancelled  # the look-up was stopped, not left behind
        assert len(asyncio.all_tasks()) == tasks_before

        answered = await resolve_once(SystemResolver(), "127.0.0.1", 587, 0.05)
        assert answered.error is None
        assert [a.sockaddr[:2] for a in answered.addresses] == [("127.0.0.1", 587)]
        assert answered.addresses[0].family is socket.AF_INET

    asyncio.run(scenario())
