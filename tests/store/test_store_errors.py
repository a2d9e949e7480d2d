"""Database errors are translated in the store, on both databases: an unreachable or
unwritable database is StoreUnavailable (a 503 the client may retry), a statement the
database refuses as inconsistent is a StoreFault (a defect, never "unavailable"), and the
HTTP layer never handles SQLAlchemy's exceptions itself."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import insert, text

from smtp_profile.domain.errors import ErrorKind
from smtp_profile.settings import async_url
from smtp_profile.store.database import create_engine_for, migrate
from smtp_profile.store.errors import as_store_failures
from smtp_profile.store.sqlite_writer import SQLiteWriter
from smtp_profile.store.tables import smtp_profile
from smtp_profile.usecases.ports import StoreConflict, StoreFault, StoreUnavailable
from tests.support.database import migrated_postgres_schema

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SOURCE = Path(__file__).resolve().parents[2] / "src" / "smtp_profile"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        migrate(url)
        yield url
        return
    with migrated_postgres_schema(POSTGRES) as url:
        yield url


async def execute(url: str, statement: str) -> None:
    engine = create_engine_for(async_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def test_a_constraint_violation_is_a_fault_not_an_outage(store_url: str) -> None:
    async def duplicate_profile() -> None:
        engine = create_engine_for(async_url(store_url))
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(smtp_profile).values(
                    id=1, port=25, auth_type=0, use_ssl=False, version=1))
        finally:
            await engine.dispose()

    with pytest.raises(StoreConflict) as caught:
        asyncio.run(duplicate_profile())
    assert isinstance(caught.value, StoreFault)
    assert not isinstance(caught.value, StoreUnavailable)
    asyncio.run(execute(store_url, "UPDATE smtp_profile SET port = 26"))  # still works


def test_a_value_the_column_refuses_is_a_fault(store_url: str) -> None:
    statement = ("UPDATE smtp_profile SET port = 'not a number'" if "sqlite" not in store_url
                 else "UPDATE smtp_profile SET no_such_column = 1")
    with pytest.raises(StoreFault) as caught:
        asyncio.run(execute(store_url, statement))
    assert not isinstance(caught.value, StoreUnavailable)


def test_an_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}",
                "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2"):
        with pytest.raises(StoreUnavailable) as caught:
            asyncio.run(execute(url, "SELECT 1"))
        assert caught.value.kind is ErrorKind.STORE_UNAVAILABLE
        assert caught.value.retry_after > 0
        assert "cannot be reached or written" in caught.value.message


def test_the_sqlite_writer_translates_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    writer = SQLiteWriter(url)
    try:
        statement = insert(smtp_profile).values(id=1, port=25, auth_type=0, use_ssl=False,
                                                version=1)
        with pytest.raises(StoreConflict):
            asyncio.run(writer.execute(statement))
    finally:
        writer.close()


def test_the_http_layer_never_handles_sqlalchemy_errors() -> None:
    paths = list((SOURCE / "server").rglob("*.py"))  # api/ and web/ until the layout step
    assert paths
    for path in paths:
        assert not re.search(r"^\s*(from|import)\s+sqlalchemy", path.read_text(),
                             re.MULTILINE), path


@pytest.mark.parametrize(("raised", "expected"), [
    (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), StoreUnavailable),
    (sqlalchemy.exc.DisconnectionError("gone"), StoreUnavailable),
    (sqlalchemy.exc.InvalidRequestError("a defect"), StoreFault),
])
def test_errors_no_statement_raises_are_store_failures_too(raised: Exception,
                                                           expected: type[Exception]) -> None:
    """The periodic upkeep tells failures apart by the ports' types alone; the few
    SQLAlchemy errors the engine's hook never sees reach it as those types too."""
    with pytest.raises(expected) as caught, as_store_failures():
        raise raised
    assert caught.value.__cause__ is raised
