"""The web page's GET /SMTP (its session cookie) on the fast path: after the session's
first resolution it is answered from memory (no session read, no statement at all while
nothing was committed), with the routes' very bytes; and nothing weakens revocation: a
sign-out (here or on another instance), a removed user, a changed password or
permission, a session ended by idleness or by its maximum is refused at once, and each
refusal is followed by a success on the same running instance. The slide of a
session's end is still written (at most once a minute)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import SessionRecord
from smtp_profile.runtime import Runtime
from smtp_profile.server.api.fast_read import Fallback, FastReadCounts
from smtp_profile.store.tables import users, web_sessions
from smtp_profile.store.users import name_key
from smtp_profile.usecases.memory import MemoryStats
from smtp_profile.usecases.web_sessions import WebSessions
from tests.api.conftest import StatementCounter
from tests.api.test_fast_read import PROFILE, comparable, fast_read_counts
from tests.support.service import (
    FrozenClock,
    RunningService,
    add_user,
    run_async,
)

API = "/KeyfactorAPI/SMTP"
PAGE = {"x-keyfactor-requested-with": "XMLHttpRequest"}
COOKIE = "smtp_profile_session"
READER = ("reader", "reader-password-1")


def page(service: RunningService, cookie: str | None = None, *,
         version: int = 1) -> httpx.Client:
    """A client as the page is: its header, its cookie, no Authorization."""
    return httpx.Client(base_url=service.url, timeout=60,
                        headers={**PAGE, "x-keyfactor-api-version": str(version)},
                        cookies={COOKIE: cookie} if cookie else None)


def sign_in(service: RunningService, user: str, password: str) -> str:
    """A new session's cookie, signed in on `service` as the page signs in."""
    with page(service) as client:
        response = client.post("/web/session", json={"UserName": user, "Password": password})
        assert response.status_code == 200, response.text
        return client.cookies[COOKIE]


def warm(client: httpx.Client) -> httpx.Response:
    """Two GETs: the first resolves the session (the routes), the second is from memory."""
    first = client.get(API)
    assert first.status_code == 200, first.text
    assert client.get(API).status_code == 200
    return first


def stats_of(service: RunningService) -> MemoryStats:
    return MemoryStats(**vars(service.runtime.memory.sessions.stats))


def cookie_stats_of(service: RunningService) -> MemoryStats:
    return MemoryStats(**vars(service.runtime.memory.adapters["recognised_cookies"].stats))


def from_memory(service: RunningService) -> int:
    """GETs whose session a memory answered: the session memory, or the fast path's
    recognised Cookie headers."""
    return stats_of(service).hits + cookie_stats_of(service).hits


def as_admin(service: RunningService, change: Callable[[Runtime], Awaitable[object]]) -> None:
    """A change made as `smtp-profile user ...` makes it: another runtime, another
    process's connections."""

    async def run() -> None:
        runtime = Runtime.open(service.settings)
        try:
            await change(runtime)
        finally:
            await runtime.close()

    run_async(run())


async def set_permissions(runtime: Runtime, name: str, permissions: str) -> None:
    async with runtime.engine.begin() as connection:
        await connection.execute(update(users).where(users.c.name_key == name_key(name))
                                 .values(permissions=permissions))


def stored_end(service: RunningService, cookie: str) -> datetime:
    found: list[datetime] = []

    async def read(runtime: Runtime) -> None:
        async with runtime.engine.connect() as connection:
            value = (await connection.execute(
                select(web_sessions.c.expires_at).where(web_sessions.c.token_hash == hashlib
                                                        .sha256(cookie.encode()).hexdigest())
            )).scalar_one()
        found.append(value if value.tzinfo else value.replace(tzinfo=UTC))

    as_admin(service, read)
    return found[0]


def put_profile(service: RunningService) -> None:
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200


@pytest.mark.parametrize("version", [1, 2])
def test_a_session_get_is_answered_from_memory_with_the_routes_bytes(
        service: RunningService, counter: StatementCounter, version: int) -> None:
    put_profile(service)
    counts: FastReadCounts = fast_read_counts(service)
    cookie = sign_in(service, "admin", service.admin_password)
    with page(service, cookie, version=version) as client:
        answered = counts.answered
        not_recognised = counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED]
        routed = client.get(API)  # the first use since sign-in: the routes resolve it
        assert routed.status_code == 200, routed.text
        assert counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED] == not_recognised + 1
        assert counts.answered == answered
        fast = client.get(API)
        assert comparable(fast) == comparable(routed)
        before, cookies_before = stats_of(service), cookie_stats_of(service)
        for _ in range(3):
            # No session read, no snapshot read: SQLite's data_version, PostgreSQL's
            # change feed say nothing committed.
            assert counter.during(lambda: client.get(API).raise_for_status()) == []
        assert counts.answered == answered + 4
        # The Cookie header was recognised as a whole: the session was not even looked
        # up in memory (no parse, no hash of its token).
        assert cookie_stats_of(service).hits == cookies_before.hits + 3
        assert stats_of(service).hits == before.hits
        # A PUT (Basic, by the admin) commits: the session is read again, once (and
        # the profile's version, once), then nothing again.
        put_profile(service)
        refreshed = counter.during(lambda: client.get(API).raise_for_status())
        refreshed += counter.during(lambda: client.get(API).raise_for_status())
        assert sum("web_sessions" in statement for statement in refreshed) == 1, refreshed
        assert counter.during(lambda: client.get(API).raise_for_status()) == []


def test_the_cookie_counts_on_the_fast_path_only_as_on_the_routes(
        service: RunningService) -> None:
    """The CSRF rule: the cookie counts only with the page's header and no Authorization."""
    put_profile(service)
    counts = fast_read_counts(service)
    cookie = sign_in(service, "admin", service.admin_password)
    with page(service, cookie) as client:
        warm(client)
        answered = counts.answered
        as_api_client = client.get(API, headers={"x-keyfactor-requested-with": "APIClient"})
        assert as_api_client.status_code == 401
        assert "counts only with" in as_api_client.json()["Message"]
        with_basic = client.get(API, auth=("admin", "not-the-password"))
        assert with_basic.status_code == 401
        assert counts.answered == answered
        # The page's own call still works (the refused password was a commit, the
        # counter of failures: read once, then from memory again).
        warm(client)
        answered = counts.answered
        assert client.get(API).status_code == 200
        assert counts.answered == answered + 1


def test_a_sign_out_is_refused_at_once_then_a_new_sign_in_works(
        service: RunningService) -> None:
    put_profile(service)
    cookie = sign_in(service, "admin", service.admin_password)
    with page(service, cookie) as client:
        warm(client)
        assert client.delete("/web/session").status_code == 204
    with page(service, cookie) as stale:
        assert stale.get(API).status_code == 401
    with page(service, sign_in(service, "admin", service.admin_password)) as again:
        warm(again)


def test_a_sign_out_on_another_instance_is_refused_at_once(
        pair: tuple[RunningService, RunningService]) -> None:
    first, second = pair
    put_profile(first)
    cookie = sign_in(first, "admin", first.admin_password)
    with page(second, cookie) as reader:
        warm(reader)
        hits = from_memory(second)
        assert reader.get(API).status_code == 200
        assert from_memory(second) == hits + 1  # the second instance's memory answered
    with page(first, cookie) as writer:
        assert writer.delete("/web/session").status_code == 204
    with page(second, cookie) as reader:
        assert reader.get(API).status_code == 401
    with page(second, sign_in(first, "admin", first.admin_password)) as again:
        warm(again)


@pytest.mark.parametrize("change", ["removed", "new password", "read permission removed"])
def test_a_user_change_elsewhere_is_refused_at_once(service: RunningService,
                                                    change: str) -> None:
    put_profile(service)
    add_user(service.settings, *READER, "/system_settings/read/")
    with page(service, sign_in(service, *READER)) as reader:
        warm(reader)
        hits = from_memory(service)
        assert reader.get(API).status_code == 200
        assert from_memory(service) == hits + 1
        if change == "removed":
            as_admin(service, lambda runtime: runtime.accounts.remove("reader"))
            assert reader.get(API).status_code == 401
            add_user(service.settings, *READER, "/system_settings/read/")
        elif change == "new password":
            as_admin(service, lambda runtime: runtime.accounts.set_password(
                "reader", Secret("reader-password-2")))
            assert reader.get(API).status_code == 401
        else:
            as_admin(service, lambda runtime: set_permissions(
                runtime, "reader", "/system_settings/modify/"))
            assert reader.get(API).status_code == 403
            as_admin(service, lambda runtime: set_permissions(
                runtime, "reader", "/system_settings/read/"))
            assert reader.get(API).status_code == 200  # the same session, read again
    password = "reader-password-2" if change == "new password" else READER[1]
    with page(service, sign_in(service, "reader", password)) as again:
        warm(again)


@pytest.fixture
def clock(service: RunningService) -> FrozenClock:
    """Sessions of 30 minutes, 60 at most, on a clock the test moves (the store and its
    memory are the service's own)."""
    frozen = FrozenClock()
    sessions = service.runtime.sessions
    service.runtime.sessions = WebSessions(
        sessions._repository, timedelta(minutes=30),
        lambda: datetime.fromtimestamp(frozen.now, UTC), maximum=timedelta(minutes=60))
    return frozen


def test_an_idle_session_ends_on_time_then_a_new_sign_in_works(
        service: RunningService, clock: FrozenClock) -> None:
    put_profile(service)
    with page(service, sign_in(service, "admin", service.admin_password)) as client:
        warm(client)
        clock.now += 30 * 60 - 1
        assert client.get(API).status_code == 200  # a second before its end (it slides)
        clock.now += 30 * 60
        assert client.get(API).status_code == 401
    with page(service, sign_in(service, "admin", service.admin_password)) as again:
        warm(again)


def test_a_used_session_ends_at_its_maximum_then_a_new_sign_in_works(
        service: RunningService, clock: FrozenClock) -> None:
    put_profile(service)
    with page(service, sign_in(service, "admin", service.admin_password)) as client:
        warm(client)
        for _ in range(5):  # used every ten minutes: it slides, up to its maximum
            clock.now += 10 * 60
            warm(client)
        clock.now += 10 * 60 - 1
        assert client.get(API).status_code == 200
        clock.now += 1
        assert client.get(API).status_code == 401
    with page(service, sign_in(service, "admin", service.admin_password)) as again:
        warm(again)


def test_the_slide_is_still_written_at_most_once_a_minute(
        service: RunningService, clock: FrozenClock) -> None:
    put_profile(service)
    counts = fast_read_counts(service)
    cookie = sign_in(service, "admin", service.admin_password)
    with page(service, cookie) as client:
        warm(client)
        opened_end = stored_end(service, cookie)
        clock.now += 59
        answered = counts.answered
        assert client.get(API).status_code == 200
        assert counts.answered == answered + 1  # within the minute: memory, no write
        assert stored_end(service, cookie) == opened_end
        clock.now += 1
        sliding = counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED]
        assert client.get(API).status_code == 200
        # Due to slide: the routes answered, and wrote the new end.
        assert counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED] == sliding + 1
        assert stored_end(service, cookie) == opened_end + timedelta(minutes=1)
        warm(client)  # the write committed: read once more, then from memory again
        answered = counts.answered
        assert client.get(API).status_code == 200
        assert counts.answered == answered + 1


def test_emptying_the_session_memory_ends_the_cookies_recognition(
        service: RunningService) -> None:
    """A sign-out here empties the session memory before its own commit is heard of
    (PostgreSQL's notification comes later): a recognised Cookie header is then not
    answered from what it was recognised as, but looked up again."""
    put_profile(service)
    counts = fast_read_counts(service)
    with page(service, sign_in(service, "admin", service.admin_password)) as client:
        warm(client)
        hits = cookie_stats_of(service).hits
        assert client.get(API).status_code == 200
        assert cookie_stats_of(service).hits == hits + 1  # recognised
        service.runtime.memory.sessions.invalidate()  # what SessionRepository.remove does
        not_recognised = counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED]
        assert client.get(API).status_code == 200  # the session is still there: read again
        assert counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED] == not_recognised + 1
        warm(client)  # and recognised again
        answered = counts.answered
        assert client.get(API).status_code == 200
        assert counts.answered == answered + 1


def test_two_cookie_headers_are_parsed_every_time(service: RunningService) -> None:
    """The last session cookie of several Cookie headers counts, as on the routes; such
    a request is never recognised as a whole, and is answered all the same."""
    put_profile(service)
    cookie = sign_in(service, "admin", service.admin_password)
    headers = [(b"x-keyfactor-requested-with", b"XMLHttpRequest"),
               (b"cookie", f"{COOKIE}=not-a-session".encode()),
               (b"cookie", f"{COOKIE}={cookie}".encode())]
    with httpx.Client(base_url=service.url, timeout=60) as client:
        hits = cookie_stats_of(service).hits
        for _ in range(3):
            answer = client.get(API, headers=headers)
            assert answer.status_code == 200, answer.text
        assert cookie_stats_of(service).hits == hits
        swapped = [headers[0], headers[2], headers[1]]  # the bad one last: refused
        assert client.get(API, headers=swapped).status_code == 401
        assert client.get(API, headers=headers).status_code == 200


def test_a_recognised_cookie_is_refused_when_its_session_would_end_or_slide(
        service: RunningService, clock: FrozenClock) -> None:
    """The recognition holds only until `WebSessions.quiet_until`: past it the routes
    decide (slide the end, or refuse a session past its end)."""
    put_profile(service)
    counts = fast_read_counts(service)
    with page(service, sign_in(service, "admin", service.admin_password)) as client:
        warm(client)
        hits = cookie_stats_of(service).hits
        clock.now += 59  # within the minute: recognised
        assert client.get(API).status_code == 200
        assert cookie_stats_of(service).hits == hits + 1
        clock.now += 1  # the slide is due: the routes write it
        sliding = counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED]
        assert client.get(API).status_code == 200
        assert counts.fallbacks[Fallback.SESSION_NOT_RECOGNISED] == sliding + 1
        warm(client)
        clock.now += 31 * 60  # idle past its end: refused, not recognised
        assert client.get(API).status_code == 401
    with page(service, sign_in(service, "admin", service.admin_password)) as again:
        warm(again)


@pytest.mark.parametrize("maximum", [30, 45, 60, 61])
def test_quiet_until_is_exactly_where_remembered_stops_answering(maximum: int) -> None:
    """`quiet_until` and `remembered` say the same, minute by minute and around each
    edge, for sessions used at many moments of their life."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    opened = now[0]

    class OneSession:
        expires_at = opened

        def remembered(self, _token_hash: str, at: datetime) -> SessionRecord | None:
            record = SessionRecord("admin", frozenset(), opened, self.expires_at)
            return record if at < record.expires_at else None

        def epoch(self) -> int | None:
            return 0

    store = OneSession()
    sessions = WebSessions(store, timedelta(minutes=30),  # type: ignore[arg-type]
                           lambda: now[0], maximum=timedelta(minutes=maximum))
    token = "A" * 43
    checked = 0
    for used_at in range(0, maximum * 60, 7 * 60 + 13):  # the end slid at this use
        store.expires_at = min(opened + timedelta(seconds=used_at, minutes=30),
                               opened + timedelta(minutes=maximum))
        now[0] = opened + timedelta(seconds=used_at)
        active = sessions.remembered(token)
        if active is None:
            continue
        until = sessions.quiet_until(active)
        for offset in range(maximum * 60 + 3):  # every second from this use on
            now[0] = opened + timedelta(seconds=used_at + offset)
            assert (sessions.remembered(token) is not None) == (now[0] < until), now[0]
            checked += 1
    assert checked > 0
