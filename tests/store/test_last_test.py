"""The last test of the stored profile is one row, kept by an upsert that never lets an
older result replace a newer one. Runs on the test run's database (SQLite, or
PostgreSQL with SMTP_PROFILE_TEST_DATABASE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smtp_profile.domain.status import LastTest
from smtp_profile.domain.steps import TestMode as Mode
from smtp_profile.runtime import ensure_data_dir
from smtp_profile.store.database import create_engine_for, migrate
from smtp_profile.store.relay import RelayRepository
from tests.support.service import plain_settings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def last(test_id: str, *, seconds: int = 0, version: int = 2, success: bool = True) -> LastTest:
    return LastTest(test_id=test_id, tested_at=T0 + timedelta(seconds=seconds),
                    tested_by="admin", mode=Mode.VERIFY, success=success,
                    failed_step=None, message=None, profile_version=version,
                    certificate_not_after=None)


def repository_url(tmp_path: Path) -> str:
    settings = plain_settings(tmp_path / "data")
    ensure_data_dir(settings.data_dir)
    migrate(settings.resolved_database_url)
    return settings.resolved_database_url


def test_an_older_result_never_replaces_a_newer_one(tmp_path: Path) -> None:
    url = repository_url(tmp_path)

    async def scenario() -> list[str | None]:
        engine = create_engine_for(url)
        relay = RelayRepository(engine)
        seen: list[str | None] = []

        async def save(entry: LastTest) -> None:
            await relay.save_last_test(entry)
            stored = await relay.last_test()
            seen.append(None if stored is None else stored.test_id)

        try:
            await save(last("first", seconds=10))
            await save(last("started-earlier-finished-later", seconds=5, success=False))
            await save(last("same-time", seconds=10))  # a tie: the one saved last
            await save(last("later", seconds=20))
            await save(last("older-profile", seconds=30, version=1))
            await save(last("newer-profile", seconds=0, version=3))
        finally:
            await engine.dispose()
        return seen

    assert asyncio.run(scenario()) == [
        "first", "first", "same-time", "later", "later", "newer-profile"]


def test_many_tests_finishing_at_once_give_no_error_and_the_newest_stays(
        tmp_path: Path) -> None:
    url = repository_url(tmp_path)

    async def scenario() -> str | None:
        engine = create_engine_for(url)
        relay = RelayRepository(engine)
        try:
            for _ in range(3):
                await asyncio.gather(*(relay.save_last_test(last(f"t{i}", seconds=i))
                                       for i in range(12)))
            stored = await relay.last_test()
        finally:
            await engine.dispose()
        return None if stored is None else stored.test_id

    assert asyncio.run(scenario()) == "t11"
