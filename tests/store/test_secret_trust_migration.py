"""Migration 0007: secrets stored before it are bound to the trust options in force."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from smtp_profile.runtime import ensure_data_dir
from smtp_profile.store.database import MIGRATIONS_DIR, migrate, migration_engine
from tests.support.database import query
from tests.support.service import plain_settings

PEM = "-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----"


def upgrade_to(url: str, revision: str) -> None:
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def database(tmp_path: Path) -> str:
    settings = plain_settings(tmp_path / "data")
    ensure_data_dir(settings.data_dir)
    url = settings.resolved_database_url
    upgrade_to(url, "0005_throttle")
    return url


def execute(url: str, statement: str, **values: object) -> None:
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), values)
    finally:
        engine.dispose()


def stored_binding(url: str) -> object:
    value = query(url, "SELECT secret_trust FROM smtp_profile WHERE id = 1")[0][0]
    return json.loads(value) if isinstance(value, str) else value


def test_a_stored_secret_is_bound_to_the_options_in_force(tmp_path: Path) -> None:
    url = database(tmp_path)
    execute(url, "UPDATE smtp_profile SET auth_type = 2, password_sealed = :sealed",
            sealed=b"\x01sealed")
    execute(url, "UPDATE relay_options SET insecure = :yes, pinned_sha256 = :pin, "
            "ca_pem = :pem", yes=True, pin="ab" * 32, pem=PEM)
    migrate(url)
    assert stored_binding(url) == {
        "Insecure": True, "PinnedSha256": "ab" * 32,
        "CaBundle": hashlib.sha256(PEM.encode()).hexdigest()}


def test_no_secret_no_binding(tmp_path: Path) -> None:
    url = database(tmp_path)
    migrate(url)
    assert stored_binding(url) is None
