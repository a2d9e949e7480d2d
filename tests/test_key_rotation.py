"""`rotate-key` racing a PUT: the PUT that changes the host and password lands between
rotate-key's read of the sealed secrets and its write. The old password must not end up
bound to the new host, and everything stored must open under the new key."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from smtp_profile.cli.keys import reseal_secrets
from smtp_profile.store.database import create_engine_for
from smtp_profile.store.profiles import ProfileRepository
from smtp_profile.store.secret_box import (
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    SecretBox,
    load_keys,
    new_key,
    write_key_file,
)
from tests.support.service import RunningService, service_settings, start_service

OLD = {"Host": "old-relay.test", "Port": 587, "RelayAuthenticationType": 2,
       "RelayUsername": "svc", "RelayPassword": "old-password-canary",
       "SenderAccount": "svc@corp.local", "SenderName": "KF"}
NEW = {**OLD, "Host": "new-relay.test", "RelayPassword": "new-password-canary"}


def put(service: RunningService, body: dict[str, Any]) -> httpx.Response:
    with service.client() as client:
        return client.put("/KeyfactorAPI/SMTP", json=body)


def test_a_put_between_rotate_keys_read_and_write(tmp_path: Path, ca_bundle: Path) -> None:
    settings = service_settings(tmp_path / "data", ca_bundle)
    service = start_service(settings)
    try:
        assert put(service, OLD).status_code == 200
        ring = load_keys(settings.data_dir, settings.secret_key, create=False)
        fresh = new_key()  # as rotate-key does: the next key file first, renamed at the end
        write_key_file(settings.data_dir / NEXT_KEY_FILE_NAME, fresh)
        answers: list[httpx.Response] = []
        racer = threading.Thread(target=lambda: answers.append(put(service, NEW)))

        async def rotate() -> tuple[int, Any]:
            engine = create_engine_for(settings.resolved_database_url)
            reads = 0

            @event.listens_for(engine.sync_engine, "after_cursor_execute")
            def race(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                nonlocal reads
                if statement.lstrip().upper().startswith("SELECT") and \
                        "password_sealed" in statement:
                    reads += 1
                    if reads == 1:  # the PUT goes in right after the first read
                        racer.start()
                        if engine.dialect.name == "sqlite":
                            racer.join()  # SQLite: it commits before rotate-key writes
                        # PostgreSQL: the row is locked; the PUT waits for the commit

            try:
                count = await reseal_secrets(engine, ring, fresh)
                stored = await ProfileRepository(engine, SecretBox([fresh])).load()
                return count, stored
            finally:
                await engine.dispose()

        count, _ = asyncio.run(rotate())
        racer.join()
        os.replace(settings.data_dir / NEXT_KEY_FILE_NAME, settings.data_dir / KEY_FILE_NAME)
        assert count == 1
        assert answers[0].status_code == 200, answers[0].text

        async def read_back() -> Any:
            engine = create_engine_for(settings.resolved_database_url)
            try:
                return await ProfileRepository(engine, SecretBox([fresh, *ring])).load()
            finally:
                await engine.dispose()

        stored = asyncio.run(read_back())
        assert stored.profile.host == "new-relay.test"
        assert stored.profile.password is not None
        assert stored.profile.password.reveal() == "new-password-canary"
        # and the same instance goes on saving, under the key that stays
        assert put(service, OLD).status_code == 200
        assert service.runtime_password() == "old-password-canary"  # a fresh start opens it
    finally:
        service.stop()
