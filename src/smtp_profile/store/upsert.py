"""INSERT ... ON CONFLICT in the engine's own dialect (both spell the clauses alike).

Each dialect's module is imported when an engine of that dialect first asks: the
PostgreSQL dialect is about 2 MB and 50 ms of imports that a SQLite service never needs
(the SQLite one is loaded by its engine anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def upsert(engine: AsyncEngine, table: Table) -> postgresql.Insert | sqlite.Insert:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
