"""A stored secret altered in the database, with the key still the right one.

The key is checked when the profile is read (an instance with another key refuses to
start: tests/test_several_instances.py); the value is opened at its first use. So a
restart starts and answers GETs, a Test or a PUT that would use the altered password is
refused with a clear message in the API's error format and recorded, and a PUT that
sends the password again replaces it: the next Test passes, on the same instance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from smtp_profile.settings import sync_url
from tests.api.test_test_email import relay_body
from tests.support.database import query
from tests.support.resolver import StaticResolver
from tests.support.service import service_settings, start_service
from tests.support.smtp import Behaviour, SmtpServer

SMTP, TEST, AUDIT = "/KeyfactorAPI/SMTP", "/KeyfactorAPI/SMTP/Test", "/KeyfactorAPI/SMTP/Audit"
PASSWORD, AGAIN = "Relay-Pa55-canary", "Relay-Pa55-again"


def alter_the_stored_password(database_url: str) -> None:
    """Flip one bit of the sealed password's authentication tag, as a bad disk or a
    hand-edited row would."""
    [(sealed,)] = query(database_url, "SELECT password_sealed FROM smtp_profile")
    altered = bytearray(sealed)
    altered[-1] ^= 1
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE smtp_profile SET password_sealed = :sealed"),
                               {"sealed": bytes(altered)})
    finally:
        engine.dispose()


def test_an_altered_password_is_refused_where_used_and_replaced_by_sending_it_again(
        tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server("starttls", Behaviour(users={"svc": PASSWORD}))
    profile = relay_body(relay.port, Host="mail.test", UseSSL=True,
                         RelayAuthenticationType=2, RelayUsername="svc")
    del profile["TestRecipient"]
    settings = service_settings(tmp_path / "data", ca_bundle)
    first = start_service(settings, resolver)
    try:
        with first.client() as client:
            client.put(SMTP, json={**profile, "RelayPassword": PASSWORD}).raise_for_status()
    finally:
        first.stop()
    alter_the_stored_password(settings.resolved_database_url)

    service = start_service(settings, resolver)  # the key is right: it starts
    try:
        with service.client() as client:
            shown = client.get(SMTP)
            assert shown.status_code == 200 and shown.json()["Host"] == "mail.test"
            stored_test = {**profile, "TestRecipient": "x@corp.local"}
            for refused in (client.post(TEST, json=stored_test),
                            client.put(SMTP, json=profile)):  # keeps the stored one
                assert refused.status_code == 500, refused.text
                body = refused.json()
                assert body["ErrorCode"] == "0xA0110020"
                assert ("the stored RelayPassword was altered or moved in the database and "
                        "does not open; send it again to replace it") in body["Message"]
            assert relay.received == []  # refused before any connection
            records = client.get(AUDIT, params={"returnLimit": 2}).json()
            assert [(r["Action"], r["Success"]) for r in records] == [
                ("Put", False), ("Test", False)]
            assert "does not open" in records[1]["Message"]

            replaced = client.put(SMTP, json={**profile, "RelayPassword": AGAIN})
            assert replaced.status_code == 200, replaced.text
            relay.behaviour.users["svc"] = AGAIN
            passed = client.post(TEST, json=stored_test)
            assert passed.status_code == 200, passed.text
        assert [r.login for r in relay.received] == ["svc"]
        assert service.runtime_password() == AGAIN
    finally:
        service.stop()
