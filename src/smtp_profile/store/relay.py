"""The relay's extension rows: its options (trust, mechanism) and its last test."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.relay_options import Mechanism, RelayOptions
from smtp_profile.domain.status import LastTest
from smtp_profile.domain.steps import StepName, TestMode
from smtp_profile.store.snapshot import Snapshot
from smtp_profile.store.tables import relay_options, relay_status


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class RelayRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._latest: tuple[datetime | None, RelayOptions] | None = None

    async def options(self, known: Snapshot | None = None) -> RelayOptions:
        """The relay options; from memory when `known` (a snapshot just read) carries
        the save time of the options remembered, which every save changes."""
        latest = self._latest
        if known is not None and latest is not None and latest[0] == known.options_stamp:
            return latest[1]
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(relay_options).where(relay_options.c.id == PROFILE_ID))).one()
        options = RelayOptions(ca_pem=row.ca_pem, pinned_sha256=row.pinned_sha256,
                               insecure=bool(row.insecure), mechanism=Mechanism(row.mechanism))
        self._latest = (row.updated_at, options)
        return options

    async def save_options(self, options: RelayOptions, *, actor: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(relay_options).where(relay_options.c.id == PROFILE_ID).values(
                    ca_pem=options.ca_pem, pinned_sha256=options.pinned_sha256,
                    insecure=options.insecure, mechanism=options.mechanism.value,
                    updated_at=datetime.now(UTC), updated_by=actor,
                ))

    async def last_test(self) -> LastTest | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(relay_status).where(relay_status.c.id == PROFILE_ID))).one_or_none()
        if row is None:
            return None
        tested_at = _aware(row.tested_at)
        assert tested_at is not None
        return LastTest(
            test_id=row.test_id, tested_at=tested_at, tested_by=row.tested_by,
            mode=TestMode(row.mode), success=bool(row.success),
            failed_step=StepName(row.failed_step) if row.failed_step else None,
            message=row.message, profile_version=row.profile_version,
            certificate_not_after=_aware(row.certificate_not_after),
        )

    async def save_last_test(self, last: LastTest) -> None:
        """Keep `last` unless a newer test is stored already, in one statement.

        Newer: of a later profile version, or of the same version and started later. An
        upsert (INSERT ... ON CONFLICT DO UPDATE ... WHERE) on both databases, so two
        tests finishing at once never collide on the row, and a slow test that ends
        after a newer one never hides it.
        """
        values = {
            "test_id": last.test_id, "tested_at": last.tested_at, "tested_by": last.tested_by,
            "mode": last.mode.value, "success": last.success,
            "failed_step": last.failed_step.value if last.failed_step else None,
            "message": last.message, "profile_version": last.profile_version,
            "certificate_not_after": last.certificate_not_after,
        }
        upsert = (postgresql_insert(relay_status) if self._engine.dialect.name == "postgresql"
                  else sqlite_insert(relay_status)).values(id=PROFILE_ID, **values)
        stored = relay_status.c
        offered = upsert.excluded
        statement = upsert.on_conflict_do_update(
            index_elements=[stored.id],
            set_={name: offered[name] for name in values},
            where=or_(stored.profile_version < offered.profile_version,
                      and_(stored.profile_version == offered.profile_version,
                           stored.tested_at <= offered.tested_at)),
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
