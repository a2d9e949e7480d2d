"""`--sqlite-synchronous`: every connection the service writes through on SQLite (the
async engine's and the writer thread's) uses the operator's choice, NORMAL by default;
a value that is neither is refused at start, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from smtp_profile.runtime import Runtime, prepare
from tests.support.database import requested_postgres
from tests.support.service import plain_settings, run_async

NORMAL, FULL = 1, 2  # PRAGMA synchronous's answers

sqlite_only = pytest.mark.skipif(requested_postgres() is not None,
                                 reason="SQLite's setting; PostgreSQL has synchronous_commit")


def synchronous_levels(data_dir: Path, **overrides: object) -> list[int]:
    settings = plain_settings(data_dir, **overrides)
    prepare(settings)

    async def read() -> list[int]:
        runtime = Runtime.open(settings)
        try:
            async with runtime.engine.connect() as connection:
                engine_level = (await connection.execute(text("PRAGMA synchronous"))).scalar()
            assert runtime.writer is not None
            with runtime.writer.engine.connect() as connection:
                writer_level = connection.execute(text("PRAGMA synchronous")).scalar()
            return [int(engine_level or 0), int(writer_level or 0)]
        finally:
            await runtime.close()

    return run_async(read())


@sqlite_only
def test_writes_wait_for_the_disk_at_every_commit_by_default_and_at_checkpoints_on_request(
        tmp_path: Path) -> None:
    assert synchronous_levels(tmp_path / "default") == [FULL, FULL]
    assert synchronous_levels(tmp_path / "full", sqlite_synchronous="FULL") == [FULL, FULL]
    assert synchronous_levels(tmp_path / "normal", sqlite_synchronous="normal") == [
        NORMAL, NORMAL]


def test_another_value_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        plain_settings(Path("unused"), sqlite_synchronous="off")
    assert "must be normal or full, not 'off'" in str(refused.value)
