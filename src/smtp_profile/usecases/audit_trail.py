"""The audit port: the one call every feature uses to record what happened.

    await runtime.audit.record(action=AuditAction.TEST, user=actor.name,
                               client=actor.client, outcome=Outcome.ok())

Records are written synchronously: if one cannot be written the database error reaches
the caller (a 503), so an action is never reported done while its record is missing.
A successful PUT writes its record in the same transaction as the profile (`record_in`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from smtp_profile.domain.audit import (
    MAX_CLIENT_LENGTH,
    MAX_DETAIL_LENGTH,
    MAX_USER_LENGTH,
    RECORDED_REFUSALS_PER_MINUTE,
    AuditAction,
    AuditEvent,
    AuditPage,
    AuditQuery,
    FieldChange,
    Outcome,
    clip_optional,
    refusal_summary,
    refusal_window,
    retention_cutoff,
)
from smtp_profile.usecases.ports import (
    AuditLog,
    DateClock,
    StoreFault,
    StoreUnavailable,
    Transaction,
)

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuditTrail:
    def __init__(self, repository: AuditLog, *, retention_days: int,
                 clock: DateClock = utc_now) -> None:
        self._repository = repository
        self._retention_days = retention_days
        self._clock = clock

    @staticmethod
    def event(*, action: AuditAction, user: str | None, client: str | None, outcome: Outcome,
              changes: Iterable[FieldChange] = (), detail: str | None = None,
              profile_version: int | None = None) -> AuditEvent:
        """An event with every free-text field cleaned and cut to its column's size."""
        return AuditEvent(
            action=action,
            user=clip_optional(user, MAX_USER_LENGTH),
            client=clip_optional(client, MAX_CLIENT_LENGTH),
            outcome=outcome,
            changes=tuple(changes),
            detail=clip_optional(detail, MAX_DETAIL_LENGTH),
            profile_version=profile_version,
        )

    async def record(self, *, action: AuditAction, user: str | None, client: str | None,
                     outcome: Outcome, changes: Iterable[FieldChange] = (),
                     detail: str | None = None, profile_version: int | None = None) -> None:
        """Append one record in its own transaction."""
        await self._repository.add(
            self.event(action=action, user=user, client=client, outcome=outcome,
                       changes=changes, detail=detail, profile_version=profile_version),
            self._clock(),
        )

    async def record_refusal(self, *, user: str | None, client: str | None,
                             outcome: Outcome, detail: str | None = None) -> bool:
        """A refused sign-in (wrong, unreadable or throttled credentials), recorded one
        by one only up to RECORDED_REFUSALS_PER_MINUTE per client address and minute;
        beyond, only counted, and summed up in one record once the minute is over.
        True if this one was recorded."""
        now = self._clock()
        address = client or "unknown"
        count = await self._repository.count_refusal(address, refusal_window(now))
        if count == 1:  # an address's first refusal this minute: sum up the minutes past
            await self.summarize_refusals()
        if count > RECORDED_REFUSALS_PER_MINUTE:
            return False
        await self.record(action=AuditAction.FAILED_AUTHENTICATION, user=user, client=client,
                          outcome=outcome, detail=detail)
        return True

    async def summarize_refusals(self) -> int:
        """Write the summary records of the minutes that are over; how many."""
        now = self._clock()
        return await self._repository.summarize_refusals(refusal_window(now), now,
                                                         refusal_summary)

    async def record_in(self, transaction: Transaction, event: AuditEvent) -> None:
        """Append within the write's transaction: the record commits with the change."""
        await self._repository.insert(transaction, event, self._clock())

    async def list(self, query: AuditQuery) -> AuditPage:
        return await self._repository.list(query)

    async def prune(self) -> int:
        """Delete records past the retention period; 0 days keeps everything."""
        cutoff = retention_cutoff(self._clock(), self._retention_days)
        if cutoff is None:
            return 0
        removed = await self._repository.prune(cutoff)
        if removed:
            log.info("pruned %d audit record(s) older than %d days", removed,
                     self._retention_days)
        return removed

    async def prune_periodically(self, interval: float = PRUNE_INTERVAL_SECONDS) -> None:
        """Prune every `interval` seconds until cancelled; a failure waits for the next."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.prune()
            except (StoreUnavailable, StoreFault) as exc:
                log.warning("audit pruning failed, will retry: %s", type(exc).__name__)
