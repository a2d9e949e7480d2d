"""A canary password passes through every route and failure path and is never seen again.

Responses (bodies and headers), every log record the service writes, the audit trail and
the raw contents of the database (SQLite file bytes, PostgreSQL rows) are searched.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.database import query, raw_contents
from tests.support.service import RunningService
from tests.support.smtp import Behaviour, SmtpServer, closed_port

CANARY = "Leak-Canary-9d1e55"


def forms_of(secret: str) -> list[str]:
    encoded = base64.b64encode(secret.encode()).decode()
    plain = base64.b64encode(f"\0svc\0{secret}".encode()).decode()
    return [secret, encoded, plain]


def test_the_relay_password_never_leaves(service: RunningService,
                                         smtp_server: Callable[..., SmtpServer],
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = smtp_server("starttls", Behaviour(users={"svc": CANARY}))
    wrong = smtp_server("starttls", Behaviour(users={"svc": "something-else"}))
    profile: dict[str, Any] = {
        "Host": "mail.test", "Port": good.port, "UseSSL": True, "RelayAuthenticationType": 2,
        "RelayUsername": "svc", "RelayPassword": CANARY, "SenderAccount": "svc@corp.local",
        "SenderName": "KF"}
    v2_profile = {**profile, "RelayUsername": {"SecretValue": "svc"},
                  "RelayPassword": {"SecretValue": CANARY}}
    responses: list[httpx.Response] = []
    with service.client() as v1, service.client(version=2) as v2:
        responses.append(v1.put("/KeyfactorAPI/SMTP", json=profile))
        responses.append(v2.put("/KeyfactorAPI/SMTP", json=v2_profile))
        responses.append(v1.get("/KeyfactorAPI/SMTP"))
        responses.append(v2.get("/KeyfactorAPI/SMTP"))
        test = {**profile, "TestRecipient": "pki@corp.local"}
        responses.append(v1.post("/KeyfactorAPI/SMTP/Test", json=test))
        responses.append(v2.post("/KeyfactorAPI/SMTP/Test", json={**v2_profile,
                                                                  "TestRecipient": "p@x.test"}))
        responses.append(v1.post("/KeyfactorAPI/SMTP/Test", json={**test, "Port": wrong.port}))
        responses.append(v1.post("/KeyfactorAPI/SMTP/Test", json={**test, "Port": closed_port()}))
        diagnosed = [v1.post("/KeyfactorAPI/SMTP/Diagnose", json={**test, "Port": port})
                     for port in (good.port, wrong.port)]
        diagnosed.append(v1.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"}))
        responses.append(v1.put("/KeyfactorAPI/SMTP",
                                json={**profile, "RelayPassword": CANARY + "\r\n"}))
        responses.append(v1.put("/KeyfactorAPI/SMTP",
                                json={**profile, "RelayPassword": [CANARY]}))
        responses.append(v1.put("/KeyfactorAPI/SMTP", json={**profile, "Unknown": CANARY}))
        responses.append(v1.put("/KeyfactorAPI/SMTP",
                                content=b'{"RelayPassword": "' + CANARY.encode() + b'",',
                                headers={"content-type": "application/json"}))
    with service.client("svc", CANARY) as intruder:
        responses.append(intruder.get("/KeyfactorAPI/SMTP"))
    assert [r.status_code for r in responses[:6]] == [200] * 6
    # the canary under an unknown name is ignored, as Keyfactor's server ignores it (issue 15)
    assert [r.status_code for r in responses[6:12]] == [400, 400, 400, 400, 200, 400]
    assert responses[12].status_code == 401
    assert [r.status_code for r in diagnosed] == [200] * 3
    assert [r.json()["Success"] for r in diagnosed] == [True, False, True]
    responses += diagnosed
    assert len(good.received) == 3
    leaks = [
        (form, r.request.method, r.text)
        for r in responses for form in forms_of(CANARY)
        if form in r.text or form in str(r.headers)
    ]
    assert leaks == []
    logged = "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}" for rec in caplog.records)
    assert logged, "the service should have logged something"
    assert "'Unknown'" in logged, "the ignored property's name is logged, at debug level"
    for form in forms_of(CANARY):
        assert form not in logged

    # The audit trail recorded all of it, and neither it nor any other row holds the canary.
    url = service.settings.resolved_database_url
    audit_rows = "\n".join(str(row) for row in query(url, "SELECT * FROM audit_log"))
    assert audit_rows.count("'Put'") == 6 and audit_rows.count("'Test'") == 4
    assert "FailedAuthentication" in audit_rows and "RelayPassword" in audit_rows
    contents = raw_contents(service.settings)
    assert b"FailedAuthentication" in contents, "the raw search must see the audit rows"
    for form in [*forms_of(CANARY), CANARY.encode().hex()]:
        assert form not in audit_rows
        assert form.encode() not in contents
