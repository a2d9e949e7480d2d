"""Several real `serve` processes on one database, hammered; and one killed mid-PUT.

Run on the test run's database: SQLite (a file the processes share) or PostgreSQL (the
test's own schema). Every profile submitted here is internally consistent (each field
carries the same number), so a GET that mixed two PUTs is detected field by field.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from smtp_profile.runtime import Runtime
from smtp_profile.settings import Settings
from tests.support.database import query
from tests.support.instances import COMMAND, Instance, instances

SMTP = "/KeyfactorAPI/SMTP"
AUDIT = "/KeyfactorAPI/SMTP/Audit"
USER = "hammer"
PASSWORD = "hammer-password-1"


def profile(tag: int) -> dict[str, Any]:
    """A complete profile whose every field says `tag`."""
    return {
        "Host": f"relay-{tag}.test", "Port": 2000 + tag, "UseSSL": tag % 2 == 0,
        "RelayAuthenticationType": 2, "RelayUsername": f"user-{tag}",
        "RelayPassword": f"pw-{tag}-secret", "SenderAccount": f"sender-{tag}@corp.local",
        "SenderName": f"Sender {tag}",
    }


def tag_of(body: dict[str, Any]) -> int | None:
    """The tag of a GET body; None for the untouched seed; fails on a mixed profile."""
    if body["Host"] is None:
        assert body == {"Host": None, "Id": 1, "Port": 25, "RelayAuthenticationType": 0,
                        "RelayUsername": None, "SenderAccount": None, "SenderName": None,
                        "UseSSL": False}, body
        return None
    tag = int(body["Host"].removeprefix("relay-").removesuffix(".test"))
    expected = {k: v for k, v in profile(tag).items() if k != "RelayPassword"}
    assert {**body, "Id": None} == {**expected, "Id": None}, f"mixed profile: {body}"
    return tag


def version_of(etag: str) -> int:
    return int(etag.strip('"'))


class Setup:
    """The shared database and key, and a way to make instances and run commands."""

    def __init__(self, tmp_path: Path, database_url: str | None) -> None:
        self.tmp_path = tmp_path
        if database_url is None:  # SQLite: one file, shared by every instance
            (tmp_path / "shared").mkdir()
            database_url = f"sqlite:///{tmp_path / 'shared' / 'smtp-profile.db'}"
        self.database_url = database_url
        key = self.new_key()
        self.env = {"SMTP_PROFILE_DATABASE_URL": database_url, "SMTP_PROFILE_SECRET_KEY": key}
        self.settings = Settings(data_dir=tmp_path / "admin", database_url=database_url,
                                 secret_key=key)

    @staticmethod
    def new_key() -> str:
        return subprocess.run([COMMAND, "new-key"], capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()

    def instance(self, name: str) -> Instance:
        return Instance(name, self.tmp_path / name, self.env)

    def add_user(self) -> None:
        result = subprocess.run(
            [COMMAND, "user", "add", USER, "-p", "/system_settings/read/", "-p",
             "/system_settings/modify/", "--password-stdin", "--data-dir",
             str(self.settings.data_dir)],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
            env={**os.environ, **self.env},
        )
        assert result.returncode == 0, result.stderr

    def stored_password(self) -> str | None:
        async def read() -> str | None:
            runtime = Runtime.open(self.settings)
            try:
                password = (await runtime.profiles.load()).profile.password
            finally:
                await runtime.close()
            return None if password is None else password.reveal()

        return asyncio.run(read())


def run_threads(targets: list[Any]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker hung"


@pytest.mark.slow
def test_two_instances_on_one_database_under_concurrent_puts_and_gets(
        tmp_path: Path, database_url: str | None) -> None:
    setup = Setup(tmp_path, database_url)
    with instances(setup.instance("a"), setup.instance("b")) as (a, b):
        setup.add_user()

        # A PUT on one instance is what a GET on the other returns right after.
        with a.client(USER, PASSWORD) as on_a, b.client(USER, PASSWORD) as on_b:
            for tag in (1, 2, 3):
                put = on_a.put(SMTP, json=profile(tag))
                assert put.status_code == 200, put.text
                got = on_b.get(SMTP)
                assert tag_of(got.json()) == tag
                assert got.headers["etag"] == put.headers["etag"]
                on_a, on_b = on_b, on_a

        # Last writer wins, and no reader ever sees half of one PUT and half of another.
        attempted: set[int] = {1, 2, 3}
        problems: list[str] = []
        seen: list[int | None] = []
        tags = itertools.count(100)
        lock = threading.Lock()

        def writer(instance: Instance, puts: int) -> None:
            with instance.client(USER, PASSWORD) as client:
                for _ in range(puts):
                    with lock:
                        tag = next(tags)
                        attempted.add(tag)
                    response = client.put(SMTP, json=profile(tag))
                    if response.status_code != 200:
                        problems.append(f"PUT {tag} on {instance.name}: {response.text}")

        def reader(instance: Instance, gets: int) -> None:
            with instance.client(USER, PASSWORD) as client:
                for _ in range(gets):
                    response = client.get(SMTP)
                    try:
                        assert response.status_code == 200, response.text
                        tag = tag_of(response.json())
                        assert tag in attempted, f"GET returned {tag}, never submitted"
                        seen.append(tag)
                    except AssertionError as exc:
                        problems.append(f"GET on {instance.name}: {exc}")

        run_threads([lambda i=i: writer(i, 12) for i in (a, b, a, b)]
                    + [lambda i=i: reader(i, 30) for i in (a, b, a, b)])
        assert problems == []
        assert len(seen) == 120
        with a.client(USER, PASSWORD) as on_a, b.client(USER, PASSWORD) as on_b:
            final_a, final_b = on_a.get(SMTP), on_b.get(SMTP)
        assert final_a.json() == final_b.json()
        assert final_a.headers["etag"] == final_b.headers["etag"]
        final_tag = tag_of(final_a.json())
        assert final_tag is not None and final_tag >= 100
        # The password was written in the same atomic step as the fields beside it.
        assert setup.stored_password() == f"pw-{final_tag}-secret"

        # With If-Match no update is lost: concurrent read-increment-write cycles, each
        # reading on one instance and writing on the other, count exactly.
        with a.client(USER, PASSWORD) as client:
            client.put(SMTP, json={"Host": "counter.test", "Port": 25,
                                   "RelayAuthenticationType": 0, "SenderName": "count 0",
                                   "SenderAccount": "c@corp.local"}).raise_for_status()
        workers, increments = 4, 8
        conflicts: list[int] = []

        def incrementer(read_on: Instance, write_on: Instance) -> None:
            with read_on.client(USER, PASSWORD) as reading, \
                    write_on.client(USER, PASSWORD) as writing:
                done = 0
                while done < increments:
                    current = reading.get(SMTP)
                    body = current.json()
                    count = int(body["SenderName"].removeprefix("count "))
                    body["SenderName"] = f"count {count + 1}"
                    response = writing.put(SMTP, json=body,
                                           headers={"if-match": current.headers["etag"]})
                    if response.status_code == 412:
                        conflicts.append(1)
                        continue
                    if response.status_code != 200:
                        problems.append(f"increment: {response.text}")
                        return
                    done += 1

        run_threads([lambda: incrementer(a, b), lambda: incrementer(b, a),
                     lambda: incrementer(a, a), lambda: incrementer(b, b)])
        assert problems == []
        with b.client(USER, PASSWORD) as client:
            assert client.get(SMTP).json()["SenderName"] == f"count {workers * increments}"
            records = client.get(AUDIT, params={"action": "Put", "returnLimit": 1000}).json()
        counted = [c for r in records if r["Success"] for c in r["Changes"]
                   if c["Field"] == "SenderName" and str(c["Old"]).startswith("count ")]
        assert sorted(int(c["New"].split()[1]) for c in counted) == list(
            range(1, workers * increments + 1))
        assert all(int(c["New"].split()[1]) == int(c["Old"].split()[1]) + 1 for c in counted)
        refused = [r for r in records if r["ErrorCode"] == "0xA0110014"]
        assert len(refused) == len(conflicts)


@pytest.mark.slow
def test_a_killed_instance_leaves_one_complete_profile_and_an_intact_database(
        tmp_path: Path, database_url: str | None) -> None:
    setup = Setup(tmp_path, database_url)
    acknowledged: list[tuple[int, int]] = []
    attempted: set[int] = set()
    tags = itertools.count(1)
    lock = threading.Lock()
    stop = threading.Event()

    with instances(setup.instance("victim")) as (victim,):
        setup.add_user()

        def writer() -> None:
            with victim.client(USER, PASSWORD) as client:
                while not stop.is_set():
                    with lock:
                        tag = next(tags)
                        attempted.add(tag)
                    try:
                        response = client.put(SMTP, json=profile(tag))
                    except httpx.TransportError:  # the server died under us: expected
                        return
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append((tag, version_of(response.headers["etag"])))

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 20:
            assert time.monotonic() < deadline, f"PUTs did not get through:\n{victim.output()}"
            time.sleep(0.02)
        victim.kill()  # with PUTs in flight
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert len(attempted) > len(acknowledged), "no PUT was in flight when the process died"

    with instances(setup.instance("restarted")) as (restarted,), \
            restarted.client(USER, PASSWORD) as client:
        response = client.get(SMTP)
        assert response.status_code == 200, response.text
        tag = tag_of(response.json())
        version = version_of(response.headers["etag"])
        records = client.get(AUDIT, params={"action": "Put", "returnLimit": 1000}).json()
    assert tag in attempted
    assert version >= max(v for _, v in acknowledged), "an acknowledged PUT was lost"
    assert setup.stored_password() == f"pw-{tag}-secret"

    # The audit trail committed with the profile: every acknowledged PUT has its record,
    # and the newest successful record is the stored version.
    recorded = {r["ProfileVersion"] for r in records if r["Success"]}
    assert {v for _, v in acknowledged} <= recorded
    assert max(recorded) == version

    url = setup.settings.resolved_database_url
    if url.startswith("sqlite"):
        assert query(url, "PRAGMA integrity_check") == [("ok",)]
    assert query(url, "SELECT id FROM smtp_profile") == [(1,)]
    versions = query(url, "SELECT profile_version FROM audit_log WHERE success = "
                          "(1 = 1) AND action = 'Put'")
    assert versions.count((version,)) == 1


@pytest.mark.slow
def test_an_instance_with_another_key_refuses_to_start(tmp_path: Path,
                                                       database_url: str | None) -> None:
    setup = Setup(tmp_path, database_url)
    with instances(setup.instance("a")) as (a,):
        setup.add_user()
        with a.client(USER, PASSWORD) as client:
            client.put(SMTP, json=profile(1)).raise_for_status()
        other = Instance("b", tmp_path / "b", {**setup.env,
                                                "SMTP_PROFILE_SECRET_KEY": Setup.new_key()})
        other.start()
        assert other.process is not None
        try:
            assert other.process.wait(timeout=60) != 0
        finally:
            other.kill()
        assert "give every instance the same SMTP_PROFILE_SECRET_KEY" in other.output()
        with a.client(USER, PASSWORD) as client:
            assert tag_of(client.get(SMTP).json()) == 1
