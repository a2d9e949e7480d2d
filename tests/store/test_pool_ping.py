"""PostgreSQL's pool pings a connection before lending it only when it sat idle
(`store/database.ping_idle_connections`): a connection cut while idle is replaced
before any statement sees it; one used again at once is not pinged (no round trip per
request); one cut within the window fails one statement as unavailable, and the pool
then recovers on the same engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.settings import async_url
from smtp_profile.store.database import PING_AFTER_IDLE_SECONDS, create_engine_for
from smtp_profile.usecases.ports import StoreUnavailable
from tests.support.database import libpq_url, migrated_postgres_schema

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def schema_url() -> Iterator[str]:
    with migrated_postgres_schema(POSTGRES) as url:
        yield url


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def terminate(url: str, pid: int) -> None:
    """Cut one of the pool's connections from the server's side, as a restart or an
    administrator would, and wait until the server has let it go."""
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                            (pid,)).fetchone() is not None:
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.01)


def counting_pings(engine: AsyncEngine) -> list[object]:
    """Each ping the pool sends, as it is sent."""
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping
    pings: list[object] = []

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def test_the_service_engine_pings_only_after_a_second_idle(schema_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine_for(async_url(schema_url))  # as Runtime.open makes it
        pings = counting_pings(engine)
        try:
            first = await backend_pid(engine)
            for _ in range(5):
                assert await backend_pid(engine) == first
            assert pings == []
            await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.1)
            assert await backend_pid(engine) == first  # pinged, alive, lent
            assert len(pings) == 1
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_connection_cut_while_idle_is_replaced_before_a_statement_sees_it(
        schema_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine_for(async_url(schema_url), ping_after_idle=0.2)
        pings = counting_pings(engine)
        try:
            first = await backend_pid(engine)
            assert await backend_pid(engine) == first  # lent again at once: no ping
            assert pings == []
            terminate(schema_url, first)
            await asyncio.sleep(0.3)  # idle past the window
            replaced = await backend_pid(engine)  # pinged, found dead, replaced: no error
            assert replaced != first
            assert len(pings) == 1
            assert await backend_pid(engine) == replaced
            assert len(pings) == 1
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_connection_cut_within_the_window_fails_once_then_the_pool_recovers(
        schema_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine_for(async_url(schema_url), ping_after_idle=60)
        try:
            first = await backend_pid(engine)
            terminate(schema_url, first)
            with pytest.raises(StoreUnavailable):
                await backend_pid(engine)
            recovered = await backend_pid(engine)
            assert recovered != first
        finally:
            await engine.dispose()

    asyncio.run(scenario())
