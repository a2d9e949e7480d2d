"""Points in time as this service keeps them: aware, in UTC.

Everything is stored and compared in UTC, but SQLite hands `DateTime(timezone=True)`
columns back naive, and ISO 8601 text may name no offset: such a value means UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
