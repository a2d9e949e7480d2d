"""SQLite's snapshot read on the event loop's own connection (store/snapshot.py
`InlineSQLite`): straight to the driver, it must give what SQLAlchemy gives for the same
statement, dates included; and when its connection cannot read (busy, or refusing as
here, by SQLite's own authorizer) the read goes the async way and still answers, then
the next one is inline again."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event

from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.throttle import address_key, pair_key, sign_in_counters, user_key
from smtp_profile.runtime import Runtime, prepare
from smtp_profile.settings import sync_url
from smtp_profile.store.snapshot import _STATEMENT, InlineSQLite
from smtp_profile.store.throttle import known_key
from smtp_profile.store.users import name_key
from tests.support.database import requested_postgres
from tests.support.service import plain_settings, run_async

pytestmark = pytest.mark.skipif(requested_postgres() is not None,
                                reason="SQLite's inline read; PostgreSQL reads the async way")

T0 = 1_800_000_000.0
ADDRESS = "192.0.2.7"


def parameters(name: str, client: str) -> dict[str, str]:
    return {"name_key": name_key(name), "by_user_key": user_key(name),
            "by_address_key": address_key(client), "by_pair_key": pair_key(name, client),
            "known_user": known_key(name), "known_address": client}


def populated(data_dir: Path) -> Path:
    """A database where every column of the snapshot has a value: a user, counters of
    all three kinds (one blocked), a known address, stored options, the profile."""
    settings = plain_settings(data_dir)
    prepare(settings)

    async def fill() -> None:
        runtime = Runtime.open(settings)
        try:
            await runtime.accounts.add("alice", Secret("alice-password-1"), frozenset())
            for i in range(40):  # enough refusals from this address to block the pair
                await runtime.counters.attempt(
                    sign_in_counters("alice", ADDRESS, known=False), T0 + i)
            await runtime.counters.signed_in("alice", "198.51.100.1", T0, counted=True,
                                             known=False)
        finally:
            await runtime.close()

    run_async(fill())
    return data_dir / "smtp-profile.db"


def test_the_inline_read_gives_what_sqlalchemy_gives(tmp_path: Path) -> None:
    database = populated(tmp_path / "data")
    url = f"sqlite:///{database}"
    inline = InlineSQLite(url)
    engine = create_engine(sync_url(url))
    try:
        for name, client in (("alice", ADDRESS), ("alice", "198.51.100.1"),
                             ("nobody", ADDRESS)):
            with engine.connect() as connection:
                expected = dict(connection.execute(_STATEMENT,
                                                   parameters(name, client)).one()._mapping)
            assert inline.read(parameters(name, client)) == expected
        row = inline.read(parameters("alice", ADDRESS))
        assert row["user_name"] == "alice"
        assert row["by_pair_blocked_until"] is not None
        assert type(row["by_pair_blocked_until"]).__name__ == "datetime"  # not SQLite's text
    finally:
        inline.close()
        engine.dispose()


def test_a_locked_file_is_read_the_async_way_then_inline_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    populated(data_dir)
    settings = plain_settings(data_dir)

    async def scenario() -> None:
        runtime = Runtime.open(settings)
        inline: list[str] = []
        driven: list[str] = []

        def on_async(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            driven.append(statement)

        runtime.snapshots.trace_inline(
            lambda s: None if s == "PRAGMA data_version" else inline.append(s))
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", on_async)
        # The inline connection refuses every read (as a busy one would, with an error
        # of the driver's): SQLite's authorizer, on that connection only.
        connection = runtime.snapshots._inline._raw  # type: ignore[union-attr]
        connection.set_authorizer(lambda *_: sqlite3.SQLITE_DENY)
        try:
            snapshot = await runtime.snapshots.read("alice", ADDRESS)
            assert snapshot.user is not None and snapshot.user.name == "alice"
            assert any("profile_version" in s for s in driven)  # read the async way
            assert not any("profile_version" in s for s in inline)
            connection.set_authorizer(None)

            driven.clear()
            await runtime.counters.attempt(sign_in_counters("alice", ADDRESS, known=False),
                                           T0 + 100)  # a commit: the next read reads
            await asyncio.sleep(0)  # a new turn of the loop: the counter is read afresh
            again = await runtime.snapshots.read("alice", ADDRESS)
            assert again.counters[pair_key("alice", ADDRESS)].count >= 1
            assert any("profile_version" in s for s in inline)  # inline again
            assert not any("profile_version" in s for s in driven)
        finally:
            connection.set_authorizer(None)
            runtime.snapshots.trace_inline(None)
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", on_async)
            await runtime.close()

    run_async(scenario())
