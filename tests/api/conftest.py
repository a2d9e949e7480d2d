"""Fixtures the fast-path tests share: a statement counter and two instances on one
database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service


class StatementCounter:
    """Counts the SQL statements a runtime's engines send, as the database sees them:
    the async engine's and the inline reader's (SQLite's own trace of its connection,
    which its reads reach past SQLAlchemy; not the commit counter's PRAGMA, a reading
    of no table), and with `writer` the SQLite writer thread's too."""

    def __init__(self, service: RunningService, *, writer: bool = False) -> None:
        self.statements: list[str] = []
        runtime = service.runtime
        self._snapshots = runtime.snapshots
        self._engines: list[Engine] = [
            runtime.engine.sync_engine,
            *([] if not writer or runtime.writer is None else [runtime.writer.engine])]
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._count)
        self._snapshots.trace_inline(self._traced)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def _traced(self, statement: str) -> None:
        if statement != "PRAGMA data_version":
            self.statements.append(statement)

    def close(self) -> None:
        self._snapshots.trace_inline(None)
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._count)

    def during(self, action: Any) -> list[str]:
        self.statements.clear()
        action()
        return list(self.statements)


@pytest.fixture
def counter(service: RunningService) -> Iterator[StatementCounter]:
    counting = StatementCounter(service)
    yield counting
    counting.close()


@pytest.fixture
def pair(tmp_path: Path, ca_bundle: Path,
         resolver: StaticResolver) -> Iterator[tuple[RunningService, RunningService]]:
    """Two instances on one database (the same SQLite file, or the same schema)."""
    settings = service_settings(tmp_path / "data", ca_bundle)
    first = start_service(settings, resolver)
    second = start_service(settings, resolver)
    yield first, second
    second.stop()
    first.stop()
