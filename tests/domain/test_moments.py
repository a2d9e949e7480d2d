"""One rule for naive datetimes (SQLite's, or ISO text without an offset): they are UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from smtp_profile.domain.moments import as_utc


def test_a_naive_moment_is_taken_as_utc() -> None:
    assert as_utc(datetime(2026, 11, 26, 9, 0)) == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert as_utc(datetime(2026, 11, 26, 9, 0)).tzinfo is UTC


def test_an_aware_moment_keeps_its_instant_and_is_shown_in_utc() -> None:
    local = datetime(2026, 11, 26, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    moved = as_utc(local)
    assert moved == local and moved.tzinfo is UTC
    assert moved.isoformat() == "2026-11-26T09:00:00+00:00"
