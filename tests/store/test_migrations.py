"""Migrations on the test run's database: several instances starting at once are safe."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from smtp_profile.runtime import ensure_data_dir
from smtp_profile.settings import sync_url
from smtp_profile.store.database import (
    MIGRATIONS_DIR,
    migrate,
    migration_engine,
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
