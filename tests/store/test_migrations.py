"""Migrations on the test run's database: several instances starting at once are safe."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from smtp_profile.runtime import ensure_data_dir
from smtp_profile.settings import sync_url
from smtp_profile.store import database
from smtp_profile.store.database import (
    MIGRATIONS_DIR,
    at_newest_revision,
    migrate,
    migration_engine,
    newest_revision,
    take_migration_lock,
)
from tests.support.database import query, requested_postgres, sqlite_files
from tests.support.service import RunningService, plain_settings


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def fresh_database_url(tmp_path: Path) -> str:
    settings = plain_settings(tmp_path / "data")
    ensure_data_dir(settings.data_dir)
    return settings.resolved_database_url


def table_exists(url: str, name: str) -> bool:
    """Read without any lock of our own (SQLite in WAL lets readers in)."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table(name)
    finally:
        engine.dispose()


def test_instances_migrating_at_once_all_succeed_and_migrate_once(tmp_path: Path) -> None:
    url = fresh_database_url(tmp_path)
    starters = 4
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait(timeout=30)
            migrate(url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert query(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert query(url, "SELECT id, version FROM smtp_profile") == [(1, 1)]


def test_a_migration_waits_for_the_lock_held_by_another_instance(tmp_path: Path) -> None:
    url = fresh_database_url(tmp_path)
    holder = migration_engine(url)
    done = threading.Event()
    errors: list[BaseException] = []

    def start() -> None:
        try:
            migrate(url)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    try:
        with holder.begin() as connection:
            take_migration_lock(connection)
            thread = threading.Thread(target=start)
            thread.start()
            time.sleep(1.0)  # room for a migration that ignored the lock to run (not timed)
            assert not done.is_set(), "the migration did not wait for the lock"
            assert not table_exists(url, "alembic_version")
    finally:
        holder.dispose()
    assert done.wait(timeout=120)
    thread.join(timeout=10)
    assert errors == []
    assert query(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_migrating_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    url = fresh_database_url(tmp_path)
    migrate(url)
    before = query(url, "SELECT id, version FROM smtp_profile")
    migrate(url)
    assert query(url, "SELECT id, version FROM smtp_profile") == before == [(1, 1)]


def test_services_use_the_database_the_run_asked_for(service: RunningService) -> None:
    """Guards the PostgreSQL run against quietly testing SQLite instead."""
    dialect = service.runtime.engine.dialect.name
    if requested_postgres() is None:
        assert dialect == "sqlite"
        assert sqlite_files(service.settings.data_dir)
    else:
        assert dialect == "postgresql"
        assert sqlite_files(service.settings.data_dir) == []
        assert query(service.settings.resolved_database_url, "SELECT current_schema()") == [
            (service.settings.resolved_database_url.rsplit("%3D", 1)[1],)]


def test_the_newest_revision_read_from_the_scripts_is_alembics_head() -> None:
    assert newest_revision() == head_revision()


def test_a_restart_on_an_up_to_date_schema_does_not_load_alembic(tmp_path: Path) -> None:
    """Most of a restart's time was importing Alembic to learn there was nothing to do."""
    url = fresh_database_url(tmp_path)
    migrate(url)
    script = ("import sys; from smtp_profile.store.database import migrate; "
              f"migrate({url!r}); print('alembic' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "False"


def test_a_schema_behind_the_newest_revision_is_still_upgraded(tmp_path: Path) -> None:
    url = fresh_database_url(tmp_path)
    migrate(url)
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
    finally:
        engine.dispose()
    assert query(url, "SELECT version_num FROM alembic_version") != [(head_revision(),)]
    assert not at_newest_revision(url)
    migrate(url)
    assert query(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert at_newest_revision(url)


def test_sqlite_locked_at_once_is_migrated_again(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """SQLite may answer "database is locked" without waiting when instances start
    together (seen once on CI in the test above): the migration is tried again."""
    if requested_postgres() is not None:
        pytest.skip("SQLite's behaviour; PostgreSQL waits on its advisory lock")
    url = fresh_database_url(tmp_path)
    calls: list[int] = []

    def locked_once(connection: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(database, "take_migration_lock", locked_once)
    caplog.set_level(logging.INFO, logger="smtp_profile.store.database")
    migrate(url)
    assert len(calls) == 2 and "migrating again (attempt 2)" in caplog.text
    assert query(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]

    def always_locked(connection: Any) -> None:
        raise OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))

    other = fresh_database_url(tmp_path / "other")
    monkeypatch.setattr(database, "take_migration_lock", always_locked)
    with pytest.raises(OperationalError, match="database is locked"):
        migrate(other)  # not forever: the error stands after the last attempt
