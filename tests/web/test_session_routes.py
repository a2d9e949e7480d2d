"""Sign-in, the session cookie and sign-out over real HTTP, and the CSRF rule for cookies."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from sqlalchemy import func, select, update

from smtp_profile.domain.throttle import ADDRESS, FREE_FAILURES
from smtp_profile.store.tables import web_sessions
from smtp_profile.usecases.signin import SignIn
from tests.api.test_smtp_routes import error
from tests.support.service import (
    FrozenClock,
    RunningService,
    add_user,
    service_settings,
    start_service,
)
from tests.support.smtp import SmtpServer

PAGE = {"x-keyfactor-requested-with": "XMLHttpRequest"}
V2 = {"x-keyfactor-api-version": "2"}
COOKIE = "smtp_profile_session"


def page_client(service: RunningService, **kwargs: Any) -> httpx.Client:
    """A client that behaves like the page: XMLHttpRequest header, keeps cookies."""
    return httpx.Client(base_url=service.url, headers=PAGE, timeout=60, **kwargs)


def sign_in(client: httpx.Client, user: str, password: str) -> httpx.Response:
    return client.post("/web/session", json={"UserName": user, "Password": password})


@contextmanager
def signed_in(service: RunningService, user: str = "admin",
              password: str | None = None) -> Iterator[httpx.Client]:
    with page_client(service) as client:
        response = sign_in(client, user, password or service.admin_password)
        assert response.status_code == 200, response.text
        yield client


def session_rows(service: RunningService) -> int:
    async def count() -> int:
        async with service.runtime.engine.connect() as connection:
            return int((await connection.execute(
                select(func.count()).select_from(web_sessions))).scalar_one())

    return asyncio.run(count())


def profile_v2(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Host": "smtp.corp.local", "Port": 25, "RelayAuthenticationType": 0,
                            "SenderAccount": "pki@corp.local", "SenderName": "PKI"}
    body.update(overrides)
    return body


@pytest.fixture
def frozen_clock(service: RunningService) -> FrozenClock:
    clock = FrozenClock()
    service.runtime.sign_in = SignIn(service.runtime.accounts, service.runtime.audit,
                                     service.runtime.counters, service.runtime.snapshots,
                                     clock=clock)
    return clock


def test_sign_in_sets_a_strict_http_only_cookie(service: RunningService) -> None:
    with page_client(service) as client:
        response = sign_in(client, "admin", service.admin_password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["UserName"] == "admin"
    assert body["Permissions"] == ["/system_settings/modify/", "/system_settings/read/"]
    expires = datetime.fromisoformat(body["ExpiresAt"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(minutes=60)
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0].startswith(f"{COOKIE}=")
    assert len(attributes[0]) > len(COOKIE) + 40
    # The cookie lasts the longest a session can (12 hours); the server ends it sooner.
    assert {"httponly", "samesite=strict", "path=/", "max-age=43200"} <= set(attributes)
    ends_by = datetime.fromisoformat(body["MaxExpiresAt"])
    assert timedelta(hours=11, minutes=59) < ends_by - datetime.now(UTC) <= timedelta(hours=12)
    assert body["Email"] is None  # "admin" is no address
    assert "secure" not in attributes
    assert response.headers["cache-control"] == "no-store"


def test_signing_in_again_replaces_the_old_session(service: RunningService) -> None:
    with signed_in(service) as client:
        first = client.cookies[COOKIE]
        assert sign_in(client, "admin", service.admin_password).status_code == 200
        assert client.cookies[COOKIE] != first
        assert session_rows(service) == 1
    with page_client(service, cookies={COOKIE: first}) as stale:
        error(stale.get("/web/session"), 401, "0xA0110010")


def test_the_session_lifetime_is_configurable(tmp_path: Path, ca_bundle: Path) -> None:
    running = start_service(service_settings(tmp_path / "d", ca_bundle, session_minutes=5,
                                             session_max_minutes=30))
    try:
        with page_client(running) as client:
            response = sign_in(client, "admin", running.admin_password)
            body = response.json()
            assert "max-age=1800" in response.headers["set-cookie"].lower()
            signed_in = datetime.now(UTC)
            assert (datetime.fromisoformat(body["ExpiresAt"]) - signed_in
                    <= timedelta(minutes=5))
            assert (datetime.fromisoformat(body["MaxExpiresAt"]) - signed_in
                    <= timedelta(minutes=30))
    finally:
        running.stop()


def test_using_the_session_extends_it_and_an_address_sign_in_is_the_email(
        service: RunningService) -> None:
    """The page's own GET extends the session (the sliding itself is tested on both
    databases in test_sessions.py); signing in as user@domain tells the page the address."""
    add_user(service.settings, "pat", "pat-password-12", "/system_settings/read/")
    with page_client(service) as client:
        signed = sign_in(client, "pat@corp.example", "pat-password-12").json()
        assert signed["Email"] == "pat@corp.example"
        assert signed["UserName"] == "pat"

        aged_start = datetime.fromisoformat(signed["MaxExpiresAt"]) - timedelta(hours=12,
                                                                               minutes=10)

        async def age() -> None:  # as though the sign-in was ten minutes ago
            async with service.runtime.engine.begin() as connection:
                await connection.execute(update(web_sessions).values(
                    created_at=aged_start, expires_at=aged_start + timedelta(minutes=60)))

        asyncio.run(age())
        again = client.get("/web/session").json()
        assert again["Email"] is None, again  # the service keeps no address for "pat"
        # Aged, the session would end ten minutes before the first answer said; used, it
        # ends a full lifetime from now again.
        moved = datetime.fromisoformat(again["ExpiresAt"])
        assert moved >= datetime.fromisoformat(signed["ExpiresAt"])
        assert datetime.fromisoformat(again["MaxExpiresAt"]) < datetime.fromisoformat(
            signed["MaxExpiresAt"])


def test_the_cookie_is_secure_over_https(tmp_path: Path, ca: trustme.CA) -> None:
    pem = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    running = start_service(service_settings(tmp_path / "d"), tls_pem=pem)
    try:
        assert running.url.startswith("https://127.0.0.1:")
        verify = ssl.create_default_context(cafile=str(ca_file))
        with page_client(running, verify=verify) as client:
            response = sign_in(client, "admin", running.admin_password)
            assert response.status_code == 200, response.text
            assert "secure" in [p.strip().lower() for p in
                                response.headers["set-cookie"].split(";")]
            assert client.get("/KeyfactorAPI/SMTP", headers=V2).status_code == 200
    finally:
        running.stop()


def test_the_cookie_counts_only_with_xmlhttprequest(service: RunningService,
                                                    smtp_server: Callable[..., SmtpServer]
                                                    ) -> None:
    relay = smtp_server()
    with signed_in(service) as client:
        assert client.get("/KeyfactorAPI/SMTP", headers=V2).status_code == 200
        saved = client.put("/KeyfactorAPI/SMTP", headers=V2, json=profile_v2(Host="a.corp"))
        assert saved.status_code == 200, saved.text
        cookie = client.cookies[COOKIE]
    cookies = {COOKIE: cookie}
    # An API-client call with the cookie is not authenticated by it.
    with httpx.Client(base_url=service.url, cookies=cookies,
                      headers={"x-keyfactor-requested-with": "APIClient"}) as api_client:
        message = error(api_client.get("/KeyfactorAPI/SMTP"), 401, "0xA0110010")
    assert "XMLHttpRequest" in message
    # What a cross-site form could send: the browser adds the cookie (if SameSite did not
    # stop it) but cannot add the header. Refused before anything happens.
    forged = httpx.post(
        f"{service.url}/KeyfactorAPI/SMTP/Test", cookies=cookies,
        content=f"Host=127.0.0.1&Port={relay.port}&SenderAccount=a@b.c&SenderName=x&"
                "TestRecipient=victim@corp.local",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    error(forged, 400, "0xA0110003")
    assert relay.received == []
    with signed_in(service) as client:
        assert client.get("/KeyfactorAPI/SMTP", headers=V2).json()["Host"] == "a.corp"


def test_permissions_of_a_session_are_the_users(service: RunningService) -> None:
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    with signed_in(service, "reader", "reader-password") as client:
        info = client.get("/web/session").json()
        assert info["UserName"] == "reader"
        assert info["Permissions"] == ["/system_settings/read/"]
        assert client.get("/KeyfactorAPI/SMTP").status_code == 200
        error(client.put("/KeyfactorAPI/SMTP", headers=V2, json=profile_v2()), 403,
              "0xA0110011")


def test_sign_out_deletes_the_session(service: RunningService) -> None:
    with signed_in(service) as client:
        cookie = client.cookies[COOKIE]
        response = client.delete("/web/session")
        assert response.status_code == 204
        assert 'max-age=0' in response.headers["set-cookie"].lower()
        assert COOKIE not in client.cookies
    with page_client(service, cookies={COOKIE: cookie}) as stale:
        message = error(stale.get("/KeyfactorAPI/SMTP"), 401, "0xA0110010")
        assert "session" in message
        error(stale.get("/web/session"), 401, "0xA0110010")

    assert session_rows(service) == 0


def test_an_expired_session_is_refused(service: RunningService) -> None:
    async def expire_all() -> None:
        async with service.runtime.engine.begin() as connection:
            await connection.execute(update(web_sessions).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    with signed_in(service) as client:
        assert client.get("/web/session").status_code == 200
        asyncio.run(expire_all())
        message = error(client.get("/KeyfactorAPI/SMTP"), 401, "0xA0110010")
    assert "session has ended" in message


def test_page_calls_get_no_basic_challenge(service: RunningService) -> None:
    """A Basic challenge would make the browser show its own password dialog."""
    with page_client(service) as client:
        response = client.get("/web/session")
        error(response, 401, "0xA0110010")
        assert response.headers["www-authenticate"].startswith("Session ")
        wrong = sign_in(client, "admin", "not-the-password")
    assert error(wrong, 401, "0xA0110010") == "The user name or password is wrong."
    assert not wrong.headers["www-authenticate"].lower().startswith("basic")
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    with httpx.Client(base_url=service.url,
                      headers={"x-keyfactor-requested-with": "APIClient"}) as api_client:
        response = api_client.get("/KeyfactorAPI/SMTP")
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_session_info_for_a_basic_auth_caller(service: RunningService) -> None:
    with service.client() as client:
        response = client.get("/web/session", headers=PAGE)
    assert response.status_code == 200
    assert response.json()["ExpiresAt"] is None


@pytest.mark.parametrize(("headers", "body", "status", "code", "named"), [
    ({}, {"UserName": "admin", "Password": "x"}, 400, "0xA0110003", "XMLHttpRequest"),
    ({"x-keyfactor-requested-with": "APIClient"}, {"UserName": "admin", "Password": "x"},
     400, "0xA0110003", "XMLHttpRequest"),
    (PAGE, {"UserName": "admin"}, 400, "0xA0110001", "Password"),
    (PAGE, {"UserName": "", "Password": "x"}, 400, "0xA0110001", "UserName"),
    (PAGE, {"UserName": "admin", "Password": 5}, 400, "0xA0110001", "Password"),
    (PAGE, {"UserName": "admin", "Password": "x", "Remember": True}, 400, "0xA0110001",
     "Remember"),
])
def test_sign_in_refuses_bad_requests(service: RunningService, headers: dict[str, str],
                                      body: dict[str, Any], status: int, code: str,
                                      named: str) -> None:
    response = httpx.post(f"{service.url}/web/session", headers=headers, json=body)
    assert named in error(response, status, code)


def test_sign_in_refuses_other_media_types_and_huge_bodies(service: RunningService) -> None:
    with page_client(service) as client:
        error(client.post("/web/session", content="UserName=admin&Password=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}),
              415, "0xA0110016")
        error(client.post("/web/session", json={"UserName": "a" * 70_000, "Password": "x"}),
              413, "0xA0110015")


def test_domain_prefixed_names_sign_in(service: RunningService) -> None:
    with page_client(service) as client:
        response = sign_in(client, "CORP\\admin", service.admin_password)
    assert response.status_code == 200
    assert response.json()["UserName"] == "admin"


def test_failed_sign_ins_are_slowed_down_per_user(service: RunningService,
                                                  frozen_clock: FrozenClock) -> None:
    with page_client(service) as client:
        for _ in range(FREE_FAILURES):
            error(sign_in(client, "admin", "guess"), 401, "0xA0110010")
        # Now even the right password is refused unchecked until the wait is over.
        refused = sign_in(client, "admin", service.admin_password)
        assert "try again in 1 second." in error(refused, 429, "0xA0110017")
        assert refused.headers["retry-after"] == "1"
        with service.client() as api_client:  # Basic auth shares the throttle
            basic = api_client.get("/KeyfactorAPI/SMTP")
        error(basic, 429, "0xA0110017")
        frozen_clock.now += 1
        assert sign_in(client, "admin", service.admin_password).status_code == 200


def test_failed_sign_ins_are_slowed_down_per_address(service: RunningService,
                                                     frozen_clock: FrozenClock) -> None:
    add_user(service.settings, "bob", "bob-password-1", "/system_settings/read/")
    with page_client(service) as client:
        for i in range(ADDRESS.free):
            error(sign_in(client, f"someone{i}", "guess"), 401, "0xA0110010")
        error(sign_in(client, "bob", "bob-password-1"), 429, "0xA0110017")


def test_failed_basic_auth_is_slowed_down_too(service: RunningService,
                                              frozen_clock: FrozenClock) -> None:
    for _ in range(FREE_FAILURES):
        with service.client(password="guess") as client:
            error(client.get("/KeyfactorAPI/SMTP"), 401, "0xA0110010")
    with page_client(service) as client:
        response = sign_in(client, "admin", service.admin_password)
    error(response, 429, "0xA0110017")


def test_the_page_is_served_with_a_strict_policy(service: RunningService) -> None:
    page = httpx.get(f"{service.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert '<meta name="smtp-profile-api-base" content="/KeyfactorAPI">' in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text
    for asset, media in (("app.js", "javascript"), ("session.js", "javascript"),
                         ("app.css", "text/css"),
                         ("favicon.svg", "image/svg+xml")):
        response = httpx.get(f"{service.url}/web/static/{asset}")
        assert response.status_code == 200
        assert media in response.headers["content-type"]
    error(httpx.get(f"{service.url}/web/static/missing.js"), 404, "0xA0110012")


@pytest.fixture
def service_under_api(tmp_path: Path, ca_bundle: Path) -> Iterator[RunningService]:
    running = start_service(service_settings(tmp_path / "d", ca_bundle, base_path="/api/"))
    yield running
    running.stop()


def test_the_page_names_a_configured_base_path(service_under_api: RunningService) -> None:
    page = httpx.get(f"{service_under_api.url}/").text
    assert '<meta name="smtp-profile-api-base" content="/api">' in page
    assert 'href="/api/Documentation"' in page
