"""How PUT /SMTP writes: when its request's snapshot names the profile this instance
remembers, the write is a compare-and-swap over it without reading the row again (on
SQLite in one trip to the writer's thread), and the change still commits with its audit
record or not at all. The races (the stored profile changed after the snapshot) are in
tests/store/test_profile_writes.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.api.conftest import StatementCounter
from tests.api.test_audit import audit
from tests.api.test_options import execute
from tests.support.service import RunningService

API = "/KeyfactorAPI/SMTP"
PROFILE = {"Host": "relay.corp.local", "Port": 587, "RelayAuthenticationType": 2,
           "RelayUsername": "svc", "RelayPassword": "relay-pw-1", "UseSSL": True,
           "SenderAccount": "pki@corp.local", "SenderName": "PKI"}
PROFILE_READ = "SELECT smtp_profile.id"
"""The start of the profile row's read (`ProfileRepository._load`); the snapshot's read
of the version starts otherwise."""


WRITE = re.compile(r"\b(UPDATE|INSERT INTO|DELETE FROM) \w+")


@pytest.fixture
def statements(service: RunningService) -> Iterator[StatementCounter]:
    """Every statement the service sends, the writer thread's included."""
    counting = StatementCounter(service, writer=True)
    yield counting
    counting.close()


def refuse_put_records(url: str) -> None:
    """A real fault: the database refuses a successful PUT's audit record (a refused
    PUT's record still goes in, as it does in production)."""
    if url.startswith("sqlite"):
        execute(url, "CREATE TRIGGER refuse_put_audit BEFORE INSERT ON audit_log "
                     "WHEN NEW.action = 'Put' AND NEW.success "
                     "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        return
    execute(url,
            "CREATE FUNCTION refuse_put_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            "CREATE TRIGGER refuse_put_audit BEFORE INSERT ON audit_log FOR EACH ROW "
            "WHEN (NEW.action = 'Put' AND NEW.success) EXECUTE FUNCTION refuse_put_audit()")


def test_a_put_over_the_remembered_profile_does_not_read_the_row_again(
        service: RunningService, statements: StatementCounter) -> None:
    with service.client() as client:
        first = client.put(API, json=PROFILE)
        assert first.status_code == 200, first.text
        statements.statements.clear()
        second = client.put(API, json={**PROFILE, "SenderName": "PKI 2"})
        assert second.status_code == 200, second.text
        during = list(statements.statements)
        assert client.get(API).json()["SenderName"] == "PKI 2"
    assert int(second.headers["etag"].strip('"')) == int(first.headers["etag"].strip('"')) + 1
    assert not [s for s in during if s.startswith(PROFILE_READ)], during
    writing = [s for s in during if WRITE.search(s)]
    writes = [m.group(0) for s in writing for m in WRITE.finditer(s)]
    assert writes == ["UPDATE smtp_profile", "INSERT INTO audit_log"], during
    # SQLite: two statements in one trip to the writer thread; PostgreSQL: one statement
    # (WITH changed AS (UPDATE ...) INSERT ... FROM changed), without BEGIN and COMMIT.
    postgres = not service.settings.resolved_database_url.startswith("sqlite")
    assert len(writing) == (1 if postgres else 2), writing
    [record, _] = audit(service, action="Put")
    assert record["Success"] is True
    assert record["ProfileVersion"] == int(second.headers["etag"].strip('"'))
    assert [c["Field"] for c in record["Changes"]] == ["SenderName"]


def test_a_put_commits_with_its_audit_record_or_not_at_all(
        service: RunningService, statements: StatementCounter) -> None:
    url = service.settings.resolved_database_url
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        before = client.get(API)
        refuse_put_records(url)
        statements.statements.clear()
        failed = client.put(API, json={**PROFILE, "Port": 2525})
        assert failed.status_code >= 400, failed.text
        assert not [s for s in statements.statements if s.startswith(PROFILE_READ)], \
            "the PUT did not take the write over the remembered profile"
        after = client.get(API)
        assert after.json() == before.json(), "the profile changed without its audit record"
        assert after.headers["etag"] == before.headers["etag"]
        execute(url, "DROP TRIGGER refuse_put_audit" if url.startswith("sqlite")
                else "DROP TRIGGER refuse_put_audit ON audit_log")
        saved = client.put(API, json={**PROFILE, "Port": 2525})
        assert saved.status_code == 200, saved.text
        assert client.get(API).json()["Port"] == 2525
    records = audit(service, action="Put")  # the refused write left none (a store fault)
    assert [r["Success"] for r in records] == [True, True]
    assert records[0]["ProfileVersion"] == int(saved.headers["etag"].strip('"'))
    assert {"Field": "Port", "Old": 587, "New": 2525} in [
        {k: c[k] for k in ("Field", "Old", "New")} for c in records[0]["Changes"]]
