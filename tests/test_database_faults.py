"""Database faults: a full disk, a read-only database, PostgreSQL restarted mid-run.

Requests fail with a clear 503 while the database cannot be written or reached, recover
by themselves once it can, and never leave a partial profile. These tests change the
machine (mount a small tmpfs, set the immutable flag, restart PostgreSQL) and need root;
where that is impossible they are skipped with the reason, never silently.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_smtp_routes import error
from tests.support.database import check_reachable, fresh_schema, requested_postgres
from tests.support.service import RunningService, service_settings, start_service

PROFILE_A: dict[str, Any] = {"Host": "relay-a.corp.local", "Port": 2525,
                             "RelayAuthenticationType": 2, "RelayUsername": "svc-a",
                             "RelayPassword": "password-a-123", "SenderAccount": "a@corp.local",
                             "SenderName": "A"}
PROFILE_B: dict[str, Any] = {**PROFILE_A, "Host": "relay-b.corp.local", "Port": 587,
                             "RelayUsername": "svc-b", "RelayPassword": "password-b-456",
                             "SenderAccount": "b@corp.local", "SenderName": "B"}
STORED_A = {k: v for k, v in PROFILE_A.items() if k != "RelayPassword"}


def stored_fields(service: RunningService) -> dict[str, Any]:
    with service.client() as client:
        body = client.get("/KeyfactorAPI/SMTP").json()
    return {k: body[k] for k in STORED_A}


def run_root(*command: str) -> str | None:
    """Run a command that needs root; None if it worked, else why not."""
    if shutil.which(command[0]) is None:
        return f"{command[0]} is not installed"
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else (result.stderr.strip() or "failed")


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    problem = run_root("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if problem is not None:
        pytest.skip(f"disk-full test not run: cannot mount a tmpfs here ({problem})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write until the file system is full; the filler file is returned for removal."""
    filler = directory / "filler"
    with filler.open("wb") as sink:
        chunk = b"\0" * 65536
        try:
            while True:
                sink.write(chunk)
                sink.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def put(service: RunningService, profile: dict[str, Any]) -> httpx.Response:
    with service.client() as client:
        return client.put("/KeyfactorAPI/SMTP", json=profile)


@pytest.mark.slow
def test_a_full_disk_is_a_503_and_nothing_partial_is_stored(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "3m") as disk:
        service = start_service(service_settings(disk / "data", database_url=None))
        try:
            assert put(service, PROFILE_A).status_code == 200
            filler = fill(disk)
            refused = put(service, PROFILE_B)
            message = error(refused, 503, "0xA0110021")
            assert "cannot be reached or written" in message
            assert refused.headers["retry-after"]
            assert stored_fields(service) == STORED_A  # reads still work, profile whole
            filler.unlink()
            assert put(service, PROFILE_B).status_code == 200  # recovers by itself
            assert stored_fields(service)["Host"] == "relay-b.corp.local"
        finally:
            service.stop()


@pytest.mark.slow
def test_a_read_only_database_is_a_503_and_recovers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    service = start_service(service_settings(data_dir, database_url=None))
    # The database, its WAL and the directory; not the -shm file, which SQLite maps into
    # memory (an immutable mapping kills the process, which is not what a read-only
    # database looks like).
    frozen = [data_dir, *sorted(p for p in data_dir.glob("smtp-profile.db*")
                                if not p.name.endswith("-shm"))]
    try:
        assert put(service, PROFILE_A).status_code == 200
        problem = run_root("chattr", "+i", *map(str, frozen))
        if problem is not None:
            pytest.skip(f"read-only test not run: cannot set the immutable flag ({problem})")
        try:
            error(put(service, PROFILE_B), 503, "0xA0110021")
            assert stored_fields(service) == STORED_A
        finally:
            subprocess.run(["chattr", "-i", *map(str, frozen)], check=True)
        assert put(service, PROFILE_B).status_code == 200
    finally:
        service.stop()


def postgres_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster pg_ctlcluster manages, if any."""
    root = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not root.is_dir():
        return None
    versions = sorted(p.name for p in root.iterdir() if (p / "main").is_dir())
    return (versions[-1], "main") if versions else None


def pg_ctl(action: str, cluster: tuple[str, str]) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.slow
def test_postgresql_restarted_mid_run(tmp_path: Path) -> None:
    server = requested_postgres() or "postgresql://postgres@127.0.0.1:5432/test"
    cluster = postgres_cluster()
    if cluster is None or check_reachable(server) is not None:
        pytest.skip("PostgreSQL restart test not run: no local cluster managed by "
                    "pg_ctlcluster is reachable")
    with fresh_schema(server) as url:
        service = start_service(service_settings(tmp_path / "data", database_url=url))
        try:
            assert put(service, PROFILE_A).status_code == 200
            pg_ctl("stop", cluster)
            try:
                error(put(service, PROFILE_B), 503, "0xA0110021")
                with service.client() as client:
                    error(client.get("/KeyfactorAPI/SMTP"), 503, "0xA0110021")
            finally:
                pg_ctl("start", cluster)
            deadline = time.monotonic() + 60
            while (response := put(service, PROFILE_B)).status_code == 503:
                assert time.monotonic() < deadline, "the service did not recover"
                time.sleep(0.5)
            assert response.status_code == 200, response.text
            assert stored_fields(service)["Host"] == "relay-b.corp.local"
        finally:
            service.stop()
