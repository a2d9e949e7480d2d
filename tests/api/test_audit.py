"""The audit trail through real HTTP: what is recorded, GET /SMTP/Audit, paging, retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.runtime import Runtime, prepare
from smtp_profile.store.audit import AuditRepository
from smtp_profile.usecases.audit_trail import AuditTrail
from tests.api.test_smtp_routes import BASIC_V1, error
from tests.api.test_test_email import relay_body
from tests.support.service import RunningService, add_user, service_settings, start_service
from tests.support.smtp import SmtpServer, closed_port

AUDIT = "/KeyfactorAPI/SMTP/Audit"
SMTP = "/KeyfactorAPI/SMTP"


def audit(service: RunningService, **params: Any) -> list[dict[str, Any]]:
    with service.client() as client:
        response = client.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()
    return records


def test_a_put_is_recorded_with_its_changes_and_secrets_only_as_changed(
        service: RunningService) -> None:
    with service.client() as client:
        first = client.put(SMTP, json=BASIC_V1)
        second = client.put(SMTP, json={**BASIC_V1, "Port": 2526, "RelayPassword": "Other-pw-1"})
    assert first.status_code == second.status_code == 200
    newest, older = audit(service)
    assert newest["Action"] == "Put" and newest["Success"] is True
    assert newest["User"] == "admin" and newest["ClientAddress"] == "127.0.0.1"
    assert newest["ErrorCode"] is None and newest["Message"] is None
    assert f'"{newest["ProfileVersion"]}"' == second.headers["etag"]
    assert newest["Changes"] == [
        {"Field": "Port", "Old": 2525, "New": 2526, "Secret": False},
        {"Field": "RelayPassword", "Old": None, "New": None, "Secret": True},
    ]
    assert f'"{older["ProfileVersion"]}"' == first.headers["etag"]
    changed = {c["Field"]: c for c in older["Changes"]}
    assert changed["Host"] == {"Field": "Host", "Old": None, "New": "mail.test", "Secret": False}
    assert changed["RelayAuthenticationType"]["New"] == 2
    assert changed["RelayPassword"]["Secret"] is True
    assert "Other-pw-1" not in str(newest) and BASIC_V1["RelayPassword"] not in str(older)
    assert datetime.fromisoformat(newest["Timestamp"]) >= datetime.fromisoformat(
        older["Timestamp"])
    assert newest["Timestamp"].endswith("Z")


def test_refused_puts_are_recorded_with_the_error_the_caller_got(
        service: RunningService) -> None:
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    with service.client() as client:
        invalid = client.put(SMTP, json={**BASIC_V1, "Port": 0})
        etag = client.get(SMTP).headers["etag"]
        client.put(SMTP, json=BASIC_V1).raise_for_status()
        stale = client.put(SMTP, json=BASIC_V1, headers={"if-match": etag})
        malformed = client.put(SMTP, content=b"{", headers={"content-type": "application/json"})
    with service.client("reader", "reader-password") as reader:
        forbidden = reader.put(SMTP, json=BASIC_V1)
    records = audit(service, action="Put")
    outcomes = [(r["User"], r["Success"], r["ErrorCode"], r["Message"]) for r in records]
    expected = [("reader", forbidden), ("admin", malformed), ("admin", stale),
                ("admin", None), ("admin", invalid)]
    assert len(outcomes) == len(expected)
    for (user, success, code, message), (expected_user, response) in zip(
            outcomes, expected, strict=True):
        assert user == expected_user
        if response is None:
            assert success is True
        else:
            assert (success, code, message) == (
                False, response.json()["ErrorCode"], response.json()["Message"])
    assert [r["ErrorCode"] for r in records] == [
        "0xA0110011", "0xA0110002", "0xA0110014", None, "0xA0110001"]
    assert all(r["Changes"] == [] for r in records if not r["Success"])


def test_tests_are_recorded_with_their_outcome(service: RunningService,
                                               smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    port = closed_port()
    with service.client() as client:
        sent = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(relay.port))
        failed = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(port))
        invalid = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(relay.port,
                                                                         TestRecipient="x"))
    assert (sent.status_code, failed.status_code, invalid.status_code) == (200, 400, 400)
    refused, failure, success = audit(service, action="test")
    assert success["Success"] is True and success["Action"] == "Test"
    assert success["Detail"] == (f"test {sent.headers['x-test-id']} (send) via 127.0.0.1:"
                                 f"{relay.port} to pki-admin@corp.local")
    assert failure["Success"] is False and failure["ErrorCode"] == "0xA0110008"
    assert failure["Message"] == failed.json()["Message"]
    assert failed.headers["x-test-id"] in failure["Detail"]
    assert refused["ErrorCode"] == "0xA0110001" and "TestRecipient" in refused["Message"]


def test_failed_authentication_is_recorded_without_the_password(
        service: RunningService) -> None:
    with httpx.Client(base_url=service.url, headers={"x-keyfactor-requested-with": "APIClient"},
                      timeout=30) as anonymous:
        assert anonymous.get(SMTP).status_code == 401  # no credentials: not an attempt
        assert anonymous.get(SMTP, auth=("admin", "Wrong-Pa55-9c1")).status_code == 401
        assert anonymous.put(SMTP, auth=("CORP\\nobody", "x"), json={}).status_code == 401
        assert anonymous.get(SMTP, headers={"authorization": "Basic !!"}).status_code == 401
    records = audit(service, action="FailedAuthentication")
    assert [(r["User"], r["Detail"]) for r in records] == [
        (None, "unreadable credentials on GET /KeyfactorAPI/SMTP"),
        ("nobody", "basic PUT /KeyfactorAPI/SMTP"),
        ("admin", "basic GET /KeyfactorAPI/SMTP"),
    ]
    assert all(r["ErrorCode"] == "0xA0110010" and r["ClientAddress"] == "127.0.0.1"
               for r in records)
    assert "Wrong-Pa55-9c1" not in str(records)


def new_port(record: dict[str, Any]) -> Any:
    return next(c["New"] for c in record["Changes"] if c["Field"] == "Port")


def test_paging_with_keyfactor_parameters(service: RunningService) -> None:
    with service.client() as client:
        for port in range(3001, 3008):
            client.put(SMTP, json={**BASIC_V1, "Port": port}).raise_for_status()
        page2 = client.get(AUDIT, params={"PageReturned": 2, "RETURNLIMIT": 3})
        page3 = client.get(AUDIT, params={"pagereturned": 3, "returnlimit": 3})
        beyond = client.get(AUDIT, params={"pageReturned": 9, "returnLimit": 3})
    assert page2.headers["x-total-count"] == "7"
    assert [new_port(r) for r in page2.json()] == [3004, 3003, 3002]
    assert [new_port(r) for r in page3.json()] == [3001]
    assert beyond.json() == [] and beyond.headers["x-total-count"] == "7"
    assert len(audit(service)) == 7


@pytest.mark.parametrize(("params", "named"), [
    ({"pageReturned": "0"}, "pageReturned"),
    ({"pageReturned": "-1"}, "pageReturned"),
    ({"returnLimit": "abc"}, "returnLimit"),
    ({"returnLimit": "1001"}, "returnLimit"),
    ({"returnLimit": "2.5"}, "returnLimit"),
    ({"action": "Delete"}, "unknown audit action"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-02-30"}, "until"),
    ({"since": "2026-01-02", "until": "2026-01-01"}, "since must be earlier"),
    ({"sortField": "Id"}, "Unknown query parameter 'sortField'"),
    ([("pageReturned", "1"), ("PAGERETURNED", "2")], "more than once"),
])
def test_bad_query_parameters_are_a_400(service: RunningService, params: Any,
                                        named: str) -> None:
    with service.client() as client:
        message = error(client.get(AUDIT, params=params), 400, "0xA0110001")
    assert named in message


def test_filters_by_action_and_time(service: RunningService) -> None:
    with service.client() as client:
        client.put(SMTP, json=BASIC_V1).raise_for_status()
        client.put(SMTP, json={**BASIC_V1, "Port": 0})
    with httpx.Client(base_url=service.url, timeout=30) as anonymous:
        anonymous.get(SMTP, auth=("admin", "wrong-password"),
                      headers={"x-keyfactor-requested-with": "APIClient"})
    everything = audit(service)
    assert [r["Action"] for r in everything] == ["FailedAuthentication", "Put", "Put"]
    assert len(audit(service, action="put,FAILEDAUTHENTICATION")) == 3
    assert [r["Action"] for r in audit(service, action=["Test", "FailedAuthentication"])] == [
        "FailedAuthentication"]
    assert audit(service, action="Test") == []
    assert len(audit(service, since="1h")) == 3
    assert audit(service, since="2100-01-01") == []
    assert audit(service, until="2000-01-01T00:00:00Z") == []
    middle = everything[1]["Timestamp"]
    assert [r["Id"] for r in audit(service, since=middle)] == [
        r["Id"] for r in everything[:2]]
    assert [r["Id"] for r in audit(service, until=middle)] == [everything[2]["Id"]]


def test_reading_needs_the_read_permission_and_nothing_edits_records(
        service: RunningService) -> None:
    add_user(service.settings, "writer", "writer-password", "/system_settings/modify/")
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    with service.client("writer", "writer-password") as writer:
        error(writer.get(AUDIT), 403, "0xA0110011")
        writer.put(SMTP, json=BASIC_V1).raise_for_status()
    with service.client("reader", "reader-password") as reader:
        assert len(reader.get(AUDIT).json()) == 1
        for method in ("PUT", "POST", "DELETE", "PATCH"):
            error(reader.request(method, AUDIT, json={}), 405, "0xA0110013")
            error(reader.request(method, f"{AUDIT}/1", json={}), 404, "0xA0110012")
        assert reader.get("/keyfactorapi/smtp/audit/").status_code == 200
    with service.client(requested_with=False) as client:
        error(client.get(AUDIT), 400, "0xA0110003")
    assert len(audit(service)) == 1


def test_the_route_is_in_the_openapi_document(service: RunningService) -> None:
    document = httpx.get(f"{service.url}/KeyfactorAPI/openapi.json").json()
    get = document["paths"][AUDIT]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"x-keyfactor-requested-with", "pageReturned", "returnLimit", "action", "since",
            "until"} <= names
    ok = get["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/AuditRecordOut"}
    assert "X-Total-Count" in ok["headers"]
    assert get["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"}
    properties = document["components"]["schemas"]["AuditRecordOut"]["properties"]
    assert {"Timestamp", "User", "ClientAddress", "Action", "Success", "ErrorCode",
            "Changes"} <= set(properties)


def seed(settings: Any, ages: list[timedelta]) -> None:
    """Write records as if they had been written `ages` ago, straight into the store."""

    async def run() -> None:
        runtime = Runtime.open(settings)
        try:
            now = datetime.now(UTC)
            for age in ages:
                trail = AuditTrail(AuditRepository(runtime.engine), retention_days=0,
                                   clock=lambda age=age: now - age)  # type: ignore[misc]
                await trail.record(action=AuditAction.TEST, user="old", client="127.0.0.1",
                                   outcome=Outcome.ok(), detail=f"aged {age.days}d")
        finally:
            await runtime.close()

    asyncio.run(run())


def test_retention_prunes_old_records_at_start(tmp_path: Path, ca_bundle: Path) -> None:
    settings = service_settings(tmp_path / "d", ca_bundle, audit_retention_days=30)
    prepare(settings)
    seed(settings, [timedelta(days=400), timedelta(days=31), timedelta(days=29),
                    timedelta(hours=1)])
    running = start_service(settings)
    try:
        assert [r["Detail"] for r in audit(running)] == ["aged 0d", "aged 29d"]
    finally:
        running.stop()


def test_retention_zero_keeps_everything(tmp_path: Path, ca_bundle: Path) -> None:
    settings = service_settings(tmp_path / "d", ca_bundle, audit_retention_days=0)
    prepare(settings)
    seed(settings, [timedelta(days=4000)])
    running = start_service(settings)
    try:
        assert [r["Detail"] for r in audit(running)] == ["aged 4000d"]
    finally:
        running.stop()


def test_diagnose_options_and_web_sign_ins_are_recorded(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with service.client() as client:
        report = client.post("/KeyfactorAPI/SMTP/Diagnose",
                             json={**relay_body(relay.port), "Mode": "verify"}).json()
        refused = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "later"})
        client.put("/KeyfactorAPI/SMTP/Options", json={"Insecure": True}).raise_for_status()
    assert refused.status_code == 400
    with httpx.Client(base_url=service.url, timeout=30) as browser:
        browser.post("/web/session", json={"UserName": "admin", "Password": "not-it-at-all"},
                     headers={"x-keyfactor-requested-with": "XMLHttpRequest"})
    bad_mode, diagnosed = audit(service, action="Diagnose")
    assert diagnosed["Success"] is True and report["TestId"] in diagnosed["Detail"]
    assert "(verify)" in diagnosed["Detail"]
    assert bad_mode["Success"] is False and "Mode must be" in bad_mode["Message"]
    [options] = audit(service, action="Options")
    assert {"Field": "Insecure", "Old": False, "New": True} in [
        {k: c[k] for k in ("Field", "Old", "New")} for c in options["Changes"]]
    [web] = audit(service, action="FailedAuthentication")
    assert web["User"] == "admin" and web["Detail"] == "web"
    assert "not-it-at-all" not in str(audit(service))
