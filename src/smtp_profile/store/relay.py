"""The relay's extension rows: its options (trust, mechanism) and its last test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.profile import PROFILE_ID
from smtp_profile.domain.relay_options import Mechanism, RelayOptions
from smtp_profile.domain.status import LastTest
from smtp_profile.domain.steps import StepName, TestMode
from smtp_profile.domain.stored import Snapshot, StoredOptions
from smtp_profile.store.tables import relay_options, relay_status
from smtp_profile.store.transaction import ConnectionTransaction
from smtp_profile.store.upsert import upsert as dialect_upsert
from smtp_profile.usecases.memory import LatestByStamp
from smtp_profile.usecases.ports import OnOptionsWrite

_MAX_ATTEMPTS = 20




class RelayRepository:
    def __init__(self, engine: AsyncEngine,
                 memory: LatestByStamp[datetime | None, StoredOptions] | None = None) -> None:
        self._engine = engine
        self._memory: LatestByStamp[datetime | None, StoredOptions] = (
            LatestByStamp() if memory is None else memory)  # see usecases/memory.py
        self._writers = asyncio.Lock()  # this process's option writes, one at a time

    async def options(self, known: Snapshot | None = None) -> RelayOptions:
        """The relay options; from memory when `known` (a snapshot just read) carries
        the save time of the options remembered, which every save changes."""
        return (await self.stored_options(known)).options

    async def stored_options(self, known: Snapshot | None = None) -> StoredOptions:
        if known is not None:
            remembered = self._memory.get(known.options_stamp)
            if remembered is not None:
                return remembered
        async with self._engine.connect() as connection:
            stored = await self._load_options(connection)
        self._memory.put(stored.updated_at, stored)
        return stored

    async def replace_options(self, options: RelayOptions, *, actor: str,
                              expected_version: int | None = None,
                              on_write: OnOptionsWrite | None = None) -> StoredOptions:
        """Store `options` in one transaction with whatever `on_write` writes.

        The version column makes the update a compare-and-swap (retried if another
        instance wrote in between); with `expected_version`, changed options are a 412.
        """
        async with self._writers:
            for _ in range(_MAX_ATTEMPTS):
                async with self._engine.begin() as connection:
                    current = await self._load_options(connection, for_update=True)
                    if expected_version is not None and current.version != expected_version:
                        raise DomainError(
                            ErrorKind.PRECONDITION_FAILED,
                            "The relay options changed since they were read (If-Match "
                            "does not match); GET them again and resend your change.")
                    now = datetime.now(UTC)
                    result = await connection.execute(
                        update(relay_options)
                        .where(relay_options.c.id == PROFILE_ID)
                        .where(relay_options.c.version == current.version)
                        .values(ca_pem=options.ca_pem, pinned_sha256=options.pinned_sha256,
                                insecure=options.insecure,
                                mechanism=options.mechanism.value,
                                version=current.version + 1, updated_at=now,
                                updated_by=actor))
                    if result.rowcount == 1:
                        stored = StoredOptions(options, current.version + 1, now, actor)
                        if on_write is not None:
                            await on_write(ConnectionTransaction(connection), current, stored)
                        break
            else:
                raise DomainError(ErrorKind.STORE_UNAVAILABLE,
                                  "The relay options are being changed by too many "
                                  "writers; retry.")
        self._memory.forget()  # the next read remembers them with the stored save time
        return stored

    @staticmethod
    async def _load_options(connection: AsyncConnection, *,
                            for_update: bool = False) -> StoredOptions:
        statement = select(relay_options).where(relay_options.c.id == PROFILE_ID)
        if for_update:  # SELECT ... FOR UPDATE; SQLAlchemy omits it where unsupported
            statement = statement.with_for_update()
        row = (await connection.execute(statement)).one()
        return StoredOptions(
            RelayOptions(ca_pem=row.ca_pem, pinned_sha256=row.pinned_sha256,
                         insecure=bool(row.insecure), mechanism=Mechanism(row.mechanism)),
            row.version, row.updated_at, row.updated_by)

    async def last_test(self) -> LastTest | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(relay_status).where(relay_status.c.id == PROFILE_ID))).one_or_none()
        if row is None:
            return None
        return LastTest(
            test_id=row.test_id, tested_at=as_utc(row.tested_at), tested_by=row.tested_by,
            mode=TestMode(row.mode), success=bool(row.success),
            failed_step=StepName(row.failed_step) if row.failed_step else None,
            message=row.message, profile_version=row.profile_version,
            certificate_not_after=(None if row.certificate_not_after is None
                                   else as_utc(row.certificate_not_after)),
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
        upsert = dialect_upsert(self._engine, relay_status).values(id=PROFILE_ID, **values)
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
