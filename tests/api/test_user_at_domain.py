"""`user@domain` Basic logins (what Keyfactor's Go SDK 1.x and Python client build when a
domain is configured) read like `DOMAIN\\user`, under the same --auth-domain rule."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from smtp_profile.server.authentication import login_name
from smtp_profile.server.keyfactor_headers import BROWSER_REQUESTED_WITH
from smtp_profile.server.keyfactor_headers import REQUESTED_WITH as REQUESTED_WITH_HEADER
from smtp_profile.server.page.session_routes import SESSION_PATH
from tests.support.service import REQUESTED_WITH, RunningService, service_settings, start_service

SMTP = "/KeyfactorAPI/SMTP"
ODD_NAMES = ["@", "@@", "admin@", "@CORP", "a@b@c", "admin@@CORP", "admin@CORP@CORP", "@admin"]


@pytest.mark.parametrize(("user", "domain", "expected"), [
    ("admin@CORP", None, "admin"),
    ("admin@corp.local", None, "admin"),
    ("admin@CORP", "CORP", "admin"),
    ("admin@corp", "CORP", "admin"),
    ("admin@OTHER", "CORP", None),
    ("admin@corp.local", "CORP", None),
    ("CORP\\admin", "CORP", "admin"),
    ("admin", "CORP", "admin"),
    *((odd, None, None) for odd in ODD_NAMES),
    *((odd, "CORP", None) for odd in ODD_NAMES),
])
def test_the_login_name_rule(user: str, domain: str | None, expected: str | None) -> None:
    assert login_name(user, domain) == expected


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**REQUESTED_WITH, "authorization": f"Basic {token}"}


def refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["ErrorCode"] == "0xA0110010"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_without_a_configured_domain_the_domain_is_ignored(service: RunningService) -> None:
    password = service.admin_password
    with httpx.Client(base_url=service.url) as client:
        for odd in ODD_NAMES:
            refused(client.get(SMTP, headers=basic(odd, password)))
        refused(client.get(SMTP, headers=basic("admin@corp.local", "wrong-password")))
        # Twice: the second answer comes from the fast GET path (server/api/fast_read.py).
        for _ in range(2):
            assert client.get(SMTP, headers=basic("admin@corp.local", password)).status_code \
                == 200
        put = client.put(SMTP, headers=basic("admin@CORP", password),
                         json={"Host": "mail.test", "Port": 25, "SenderAccount": "a@corp.local",
                               "SenderName": "Keyfactor Command"})
        assert put.status_code == 200, put.text


def test_a_configured_domain_must_match_in_either_form(tmp_path: Path) -> None:
    running = start_service(service_settings(tmp_path / "d", auth_domain="CORP"))
    try:
        password = running.admin_password
        with httpx.Client(base_url=running.url) as client:
            for user in ["admin@OTHER", "admin@corp.local", "OTHER\\admin", *ODD_NAMES]:
                refused(client.get(SMTP, headers=basic(user, password)))
            for user in ["admin@CORP", "admin@corp", "CORP\\admin", "admin"]:
                for _ in range(2):
                    answer = client.get(SMTP, headers=basic(user, password))
                    assert answer.status_code == 200, user
            with running.client() as admin:
                records = admin.get(f"{SMTP}/Audit").json()
        users = {record.get("User") for record in records}
        assert "admin@OTHER" in users  # a refused domain is recorded as typed
    finally:
        running.stop()


def test_the_web_pages_sign_in_reads_names_the_same_way(tmp_path: Path) -> None:
    running = start_service(service_settings(tmp_path / "d", auth_domain="CORP"))
    page = {REQUESTED_WITH_HEADER: BROWSER_REQUESTED_WITH}
    try:
        with httpx.Client(base_url=running.url) as client:
            for user in ["admin@OTHER", "a@b@c", "@"]:
                refused_form = client.post(SESSION_PATH, headers=page, json={
                    "UserName": user, "Password": running.admin_password})
                assert refused_form.status_code == 401, user
            signed_in = client.post(SESSION_PATH, headers=page, json={
                "UserName": "admin@CORP", "Password": running.admin_password})
            assert signed_in.status_code == 200, signed_in.text
    finally:
        running.stop()
