"""A database restored from an older backup under a running instance: the new PUTs that
follow count the version up through numbers the instance has already seen with other
contents, and it must never answer with those remembered contents (or their secret)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from smtp_profile.settings import DATABASE_FILE_NAME
from tests.api.test_smtp_routes import BASIC_V1
from tests.support.service import RunningService, service_settings, start_service


def profile(host: str, password: str) -> dict[str, Any]:
    return {**BASIC_V1, "Host": host, "RelayPassword": password}


def copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup: the way to copy (and restore) a live database file."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def get(service: RunningService, version: int) -> tuple[str, str]:
    with service.client(version=version) as client:
        response = client.get("/KeyfactorAPI/SMTP")
        assert response.status_code == 200, response.text
        return response.json()["Host"], response.headers["ETag"]


def put(service: RunningService, body: dict[str, Any]) -> str:
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", json=body)
        assert response.status_code == 200, response.text
        return response.headers["ETag"]


def test_an_older_backup_restored_under_a_running_instance_then_new_puts(
        tmp_path: Path, ca_bundle: Path) -> None:
    data_dir = tmp_path / "data"
    service = start_service(service_settings(data_dir, ca_bundle, database_url=None))
    database = data_dir / DATABASE_FILE_NAME
    backup = tmp_path / "backup.db"
    try:
        put(service, profile("before-backup.test", "password-before-1"))
        copy_database(database, backup)
        tag_b = put(service, profile("after-backup.test", "password-after-2"))
        for version in (1, 2):  # both wire versions read (and remember) it
            assert get(service, version) == ("after-backup.test", tag_b)

        copy_database(backup, database)  # the restore, under the running instance
        assert get(service, 1)[0] == "before-backup.test"
        tag_d = put(service, profile("after-restore.test", "password-restore-3"))
        assert tag_d == tag_b  # the same version number, other contents
        for version in (1, 2):
            assert get(service, version)[0] == "after-restore.test"
        assert service.runtime_password() == "password-restore-3"
        assert service.stored_profile().host == "after-restore.test"
    finally:
        service.stop()
