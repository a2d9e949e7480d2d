"""GET/PUT /SMTP/Options: ETag and If-Match like the profile, what GET returns is accepted
back by PUT, and a change commits with its audit record or not at all."""

from __future__ import annotations

import hashlib
from typing import Any

import trustme
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from smtp_profile.settings import sync_url
from tests.api.test_audit import audit
from tests.api.test_smtp_routes import error
from tests.support.service import RunningService

OPTIONS = "/KeyfactorAPI/SMTP/Options"
PIN = hashlib.sha256(b"a relay certificate").hexdigest()
DEFAULTS = {"CaBundle": None, "PinnedSha256": None, "Insecure": False, "Mechanism": "auto",
            "Trust": "system"}


def read(service: RunningService) -> tuple[dict[str, Any], str]:
    with service.client() as client:
        response = client.get(OPTIONS)
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get("etag", "")


def test_etag_and_if_match_like_the_profile(service: RunningService) -> None:
    body, etag = read(service)
    assert body == DEFAULTS and etag == '"options-1"'
    with service.client() as client:
        changed = client.put(OPTIONS, json={"Mechanism": "LOGIN"}, headers={"If-Match": etag})
        assert changed.status_code == 200, changed.text
        assert changed.headers["etag"] == '"options-2"'
        for stale in (etag, '"1"', "W/" + etag, '"options-' + "9" * 5000 + '"',
                      "9" * 5000, "garbage"):
            refused = client.put(OPTIONS, json={"Insecure": True}, headers={"If-Match": stale})
            message = error(refused, 412, "0xA0110014")
            assert "relay options" in message
        assert read(service) == ({**DEFAULTS, "Mechanism": "LOGIN"}, '"options-2"')
        # A failure, then a success on the same instance: the current ETag, weak or not.
        again = client.put(OPTIONS, json={"Mechanism": "PLAIN"},
                           headers={"If-Match": 'W/"options-2"'})
        assert again.status_code == 200 and again.json()["Mechanism"] == "PLAIN"
        star = client.put(OPTIONS, json={}, headers={"If-Match": "*"})
        assert star.status_code == 200 and star.headers["etag"] == '"options-4"'
    records = audit(service, action="Options")
    assert [r["Success"] for r in records] == [True, True] + [False] * 6 + [True]
    assert all(r["ErrorCode"] == "0xA0110014" for r in records if not r["Success"])


def test_what_get_returns_put_accepts_back(service: RunningService) -> None:
    ca_pem = trustme.CA().cert_pem.bytes().decode()
    with service.client() as client:
        for options, trust in (({}, "system"), ({"CaBundle": ca_pem}, "bundle"),
                               ({"PinnedSha256": PIN, "Mechanism": "LOGIN"}, "pinned"),
                               ({"Insecure": True}, "insecure")):
            client.put(OPTIONS, json=options).raise_for_status()
            body, etag = read(service)
            assert body["Trust"] == trust
            back = client.put(OPTIONS, json=body, headers={"If-Match": etag})
            assert back.status_code == 200, back.text
            assert back.json() == body
            lower = client.put(OPTIONS, json={**body, "Trust": trust.upper()})
            assert lower.status_code == 200, lower.text


def test_a_trust_that_contradicts_the_fields_is_refused_and_changes_nothing(
        service: RunningService) -> None:
    with service.client() as client:
        client.put(OPTIONS, json={"PinnedSha256": PIN}).raise_for_status()
        before = read(service)
        contradiction = client.put(OPTIONS, json={**before[0], "Trust": "system"})
        message = error(contradiction, 400, "0xA0110001")
        assert "Trust 'system' contradicts" in message and "'pinned'" in message
        unknown = client.put(OPTIONS, json={"Trust": "paranoid"})
        assert "Trust must be one of system, bundle, pinned, insecure" in error(
            unknown, 400, "0xA0110001")
        assert read(service) == before
        # The same request without the contradiction goes through.
        assert client.put(OPTIONS, json={"Trust": "system"}).json()["Trust"] == "system"
    refused = [r for r in audit(service, action="Options") if not r["Success"]]
    assert len(refused) == 2 and all("Trust" in r["Message"] for r in refused)


def execute(url: str, *statements: str) -> None:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def refuse_options_records(url: str) -> None:
    """A real fault: the database refuses to store an Options audit record."""
    if url.startswith("sqlite"):
        execute(url, "CREATE TRIGGER refuse_options_audit BEFORE INSERT ON audit_log "
                     "WHEN NEW.action = 'Options' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        return
    execute(url,
            "CREATE FUNCTION refuse_options_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            "CREATE TRIGGER refuse_options_audit BEFORE INSERT ON audit_log FOR EACH ROW "
            "WHEN (NEW.action = 'Options') EXECUTE FUNCTION refuse_options_audit()")


def test_an_options_change_commits_with_its_audit_record_or_not_at_all(
        service: RunningService) -> None:
    url = service.settings.resolved_database_url
    before = read(service)[0]
    refuse_options_records(url)
    with service.client() as client:
        failed = client.put(OPTIONS, json={"Insecure": True})
        assert failed.status_code >= 400, failed.text
        assert read(service)[0] == before, "the options changed without their audit record"
        execute(url, "DROP TRIGGER refuse_options_audit" if url.startswith("sqlite")
                else "DROP TRIGGER refuse_options_audit ON audit_log")
        saved = client.put(OPTIONS, json={"Insecure": True})
        assert saved.status_code == 200, saved.text
    [record] = audit(service, action="Options")
    assert record["Success"] is True
    assert {"Field": "Insecure", "Old": False, "New": True} in [
        {k: c[k] for k in ("Field", "Old", "New")} for c in record["Changes"]]
