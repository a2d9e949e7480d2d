"""The audit records: append, list newest first, prune by age. Nothing here updates one.

Refused sign-ins are also counted per client address and minute (`audit_refusals`), so
that beyond a few records a flood costs one counter update, not one record each; when
the minute is over its counter is deleted and, in the same transaction, summed up in
one record, so with several instances each summary is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.audit import (
    AuditEvent,
    AuditPage,
    AuditQuery,
    AuditRecord,
    FieldChange,
    Outcome,
)
from smtp_profile.domain.moments import as_utc
from smtp_profile.store.errors import as_store_failures
from smtp_profile.store.sqlite_writer import SQLiteWriter
from smtp_profile.store.tables import audit_log, audit_refusals
from smtp_profile.store.transaction import append_in, insert_into
from smtp_profile.store.upsert import upsert as dialect_upsert
from smtp_profile.usecases.ports import Transaction


def _change_row(change: FieldChange) -> dict[str, Any]:
    if change.secret:  # the type carries no value for a secret; store none either
        return {"field": change.field, "secret": True}
    return {"field": change.field, "old": change.old, "new": change.new}


def _change(row: dict[str, Any]) -> FieldChange:
    if row.get("secret"):
        return FieldChange.secret_changed(str(row["field"]))
    return FieldChange(str(row["field"]), row.get("old"), row.get("new"))


def _row(event: AuditEvent, at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "action": event.action.value,
        "user_name": event.user,
        "client": event.client,
        "success": event.outcome.success,
        "error_code": event.outcome.error_code,
        "message": event.outcome.message,
        "detail": event.detail,
        "profile_version": event.profile_version,
        "changes": [_change_row(c) for c in event.changes],
    }


_INSERT = insert_into(audit_log)  # every Test writes a record


class AuditRepository:
    def __init__(self, engine: AsyncEngine, writer: SQLiteWriter | None = None) -> None:
        self._engine = engine
        self._writer = writer

    async def insert(self, transaction: Transaction, event: AuditEvent,
                     at: datetime) -> None:
        """Append within the caller's transaction (a PUT's record commits with the PUT)."""
        await append_in(transaction, audit_log, _row(event, at))

    async def add(self, event: AuditEvent, at: datetime) -> None:
        """Append in a transaction of its own (on SQLite, in one trip to the writer)."""
        if self._writer is not None:
            await self._writer.execute(_INSERT, _row(event, at))
            return
        async with self._engine.begin() as connection:
            await connection.execute(_INSERT, _row(event, at))

    async def count_refusal(self, client: str, window_start: datetime) -> int:
        """One more refusal from `client` in the minute from `window_start`; the count."""
        values = {"client": client[:64], "window_start": window_start, "count": 1}
        upsert = dialect_upsert(self._engine, audit_refusals).values(values)
        statement = upsert.on_conflict_do_update(
            index_elements=[audit_refusals.c.client, audit_refusals.c.window_start],
            set_={"count": audit_refusals.c.count + 1},
        ).returning(audit_refusals.c.count)
        async with self._engine.begin() as connection:
            return int((await connection.execute(statement)).scalar_one())

    async def summarize_refusals(
            self, before: datetime, at: datetime,
            summary: Callable[[str, datetime, int], AuditEvent | None]) -> int:
        """Sum up the minutes that began before `before`: each counter goes, and its
        `summary` record (if any) is written in the same transaction. How many records.
        The periodic upkeep runs it too, so every failure comes out as a store failure."""
        with as_store_failures():
            return await self._summarize_refusals(before, at, summary)

    async def _summarize_refusals(
            self, before: datetime, at: datetime,
            summary: Callable[[str, datetime, int], AuditEvent | None]) -> int:
        written = 0
        async with self._engine.begin() as connection:
            rows = (await connection.execute(
                delete(audit_refusals).where(audit_refusals.c.window_start < before)
                .returning(audit_refusals.c.client, audit_refusals.c.window_start,
                           audit_refusals.c.count))).all()
            for client, window_start, count in sorted(rows, key=lambda r: (r[1], r[0])):
                event = summary(client, as_utc(window_start), int(count))
                if event is not None:
                    await connection.execute(_INSERT, _row(event, at))
                    written += 1
        return written

    async def list(self, query: AuditQuery) -> AuditPage:
        condition = self._where(query)
        async with self._engine.connect() as connection:
            total = (await connection.execute(
                select(func.count()).select_from(audit_log).where(condition)
            )).scalar_one()
            rows = (await connection.execute(
                select(audit_log).where(condition)
                .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
                .limit(query.limit).offset(query.offset)
            )).all()
        return AuditPage([self._record(r._mapping) for r in rows], int(total))

    async def prune(self, before: datetime) -> int:
        """Delete records older than `before`; returns how many went."""
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(audit_log).where(audit_log.c.at < before))
        return int(result.rowcount or 0)

    @staticmethod
    def _where(query: AuditQuery) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if query.actions:
            conditions.append(audit_log.c.action.in_(sorted(a.value for a in query.actions)))
        # UTC always: SQLite compares the stored text, which carries no offset.
        if query.since is not None:
            conditions.append(audit_log.c.at >= as_utc(query.since))
        if query.until is not None:
            conditions.append(audit_log.c.at < as_utc(query.until))
        return and_(true(), *conditions)

    @staticmethod
    def _record(row: Any) -> AuditRecord:
        return AuditRecord(
            id=int(row["id"]),
            at=as_utc(row["at"]),
            action=row["action"],
            user=row["user_name"],
            client=row["client"],
            outcome=Outcome(bool(row["success"]), row["error_code"], row["message"]),
            changes=tuple(_change(c) for c in row["changes"] or ()),
            detail=row["detail"],
            profile_version=row["profile_version"],
        )
