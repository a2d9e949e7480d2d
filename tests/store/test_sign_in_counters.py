"""The sign-in counters in the database: counting, refusing, taking back, forgetting,
unlocking (on SQLite, or PostgreSQL with SMTP_PROFILE_TEST_DATABASE)."""

from __future__ import annotations

from pathlib import Path

from smtp_profile.domain.throttle import (
    FORGET_AFTER_SECONDS,
    LOCK_SECONDS,
    PAIR,
    address_key,
    pair_key,
    sign_in_counters,
    user_key,
)
from smtp_profile.runtime import Runtime, prepare
from tests.support.service import plain_settings, run_async

T0 = 1_800_000_000.0


def test_counting_refusing_taking_back_forgetting_and_unlocking(tmp_path: Path) -> None:
    settings = plain_settings(tmp_path / "data")
    prepare(settings)

    async def scenario() -> None:
        runtime = Runtime.open(settings)
        counters = runtime.counters
        try:
            judged = sign_in_counters("alice", "192.0.2.1", known=False)
            waits = [await counters.attempt(judged, T0) for _ in range(PAIR.free + 2)]
            assert waits == [0.0] * PAIR.free + [1.0, 1.0]  # refused ones are not counted
            snapshot = await runtime.snapshots.read("alice", "192.0.2.1")
            assert snapshot.counters[pair_key("alice", "192.0.2.1")].count == PAIR.free
            assert snapshot.known_address is False

            await counters.signed_in("alice", "192.0.2.1", T0, counted=True, known=False)
            snapshot = await runtime.snapshots.read("alice", "192.0.2.1")
            assert snapshot.known_address is True
            assert set(snapshot.counters) == {address_key("192.0.2.1")}
            assert snapshot.counters[address_key("192.0.2.1")].count == PAIR.free - 1

            # A hard lock outlives the quiet hour; plain counts do not.
            for i in range(100):
                assert await counters.attempt(
                    sign_in_counters("bob", f"198.51.100.{i}", known=False), T0 + i * 60) == 0
            later = T0 + 99 * 60 + FORGET_AFTER_SECONDS + 1
            await counters.prune(later)
            locked = await runtime.snapshots.read("bob", "203.0.113.1")
            assert locked.counters[user_key("bob")].blocked_until == T0 + 99 * 60 + LOCK_SECONDS
            assert address_key("192.0.2.1") not in (
                await runtime.snapshots.read("alice", "192.0.2.1")).counters

            assert await counters.unlock("bob") == 1
            assert user_key("bob") not in (
                await runtime.snapshots.read("bob", "203.0.113.1")).counters
        finally:
            await runtime.close()

    run_async(scenario())
