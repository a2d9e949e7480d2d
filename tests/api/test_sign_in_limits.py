"""Sign-in limits that neither race nor lock people out, and refusals recorded within
bounds (issue 12: concurrent guesses, a stranger's lockout, a flood of refusals),
against the real service, on SQLite or PostgreSQL (SMTP_PROFILE_TEST_DATABASE).

Time is a FrozenClock the instances share: waits run out only when a test moves it, so
nothing here sleeps or times anything. Strangers come from other loopback addresses
(127.0.x.y), which the service sees as other clients.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smtp_profile.domain.audit import RECORDED_REFUSALS_PER_MINUTE
from smtp_profile.domain.throttle import ACCOUNT, FREE_FAILURES, HARD_LIMIT
from tests.support.service import (
    REQUESTED_WITH,
    FrozenClock,
    RunningService,
    service_settings,
    start_service,
)
from tests.test_cli import run

API = "/KeyfactorAPI/SMTP"
AUDIT = "/KeyfactorAPI/SMTP/Audit"
SESSION = "/web/session"
PAGE = {"x-keyfactor-requested-with": "XMLHttpRequest"}
GUESSES = 300


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def instances(tmp_path: Path, ca_bundle: Path,
              clock: FrozenClock) -> Iterator[Callable[[], RunningService]]:
    """Start instances on one database (one SQLite file, or one schema), one clock."""
    started: list[RunningService] = []

    def start() -> RunningService:
        running = start_service(service_settings(tmp_path / "data", ca_bundle), clock=clock)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def from_address(service: RunningService, address: str, user: str,
                 password: str) -> httpx.Client:
    """A client whose connections come from `address` (any of 127.0.0.0/8)."""
    return httpx.Client(base_url=service.url, headers=REQUESTED_WITH, auth=(user, password),
                        transport=httpx.HTTPTransport(local_address=address), timeout=60)


def stranger(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


async def burst(services: list[RunningService], password: str) -> list[int]:
    """GUESSES sign-ins as admin at once, spread over the instances, two in three by
    Basic auth and one in three through the web page's sign-in; their statuses."""
    limits = httpx.Limits(max_connections=GUESSES, max_keepalive_connections=0)
    clients = [httpx.AsyncClient(base_url=s.url, limits=limits, timeout=120)
               for s in services]
    try:
        async def one(i: int) -> int:
            client = clients[i % len(clients)]
            if i % 3 == 2:
                response = await client.post(SESSION, headers=PAGE,
                                             json={"UserName": "admin", "Password": password})
            else:
                response = await client.get(API, headers=REQUESTED_WITH,
                                            auth=("admin", password))
            return response.status_code

        return list(await asyncio.gather(*(one(i) for i in range(GUESSES))))
    finally:
        for client in clients:
            await client.aclose()


def test_concurrent_guesses_are_checked_only_as_often_as_the_limit_allows(
        instances: Callable[[], RunningService], clock: FrozenClock) -> None:
    first, second = instances(), instances()
    password = first.admin_password
    with first.client() as own:
        assert own.get(API).status_code == 200  # admin signs in: a known address now
    statuses = asyncio.run(burst([first, second], "wrong-guess"))
    # Only the limit's worth were checked (401); the rest refused unchecked (429).
    assert Counter(statuses) == {401: FREE_FAILURES, 429: GUESSES - FREE_FAILURES}
    # The right password now, by either way in, on either instance: refused unchecked.
    for service in (first, second):
        with service.client() as client:
            assert client.get(API).status_code == 429
        refused = httpx.post(f"{service.url}{SESSION}", headers=PAGE,
                             json={"UserName": "admin", "Password": password})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
    clock.now += 1  # the wait is over: the same instances let the right password in
    for service in (first, second):
        with service.client() as client:
            assert client.get(API).status_code == 200
    signed_in = httpx.post(f"{second.url}{SESSION}", headers=PAGE,
                           json={"UserName": "admin", "Password": password})
    assert signed_in.status_code == 200, signed_in.text


def test_a_stranger_cannot_keep_a_user_out_from_an_address_they_signed_in_from(
        instances: Callable[[], RunningService], clock: FrozenClock) -> None:
    service = instances()
    password = service.admin_password
    strangers = iter(range(10_000))

    def guess() -> int:
        clock.now += 60  # the attack that worked: one failure a minute, each from a
        with from_address(service, stranger(next(strangers)), "admin",  # new address
                          "wrong-guess") as guesser:
            return guesser.get(API).status_code

    with service.client() as own:
        assert own.get(API).status_code == 200  # 127.0.0.1: where admin signs in
        # While admin is away the stranger runs up the account's count past its free
        # attempts; then admin, at home, gets in each minute right after a failure.
        assert [guess() for _ in range(ACCOUNT.free + 5)] == [401] * (ACCOUNT.free + 5)
        for minute in range(10):
            assert guess() in (401, 429)
            assert own.get(API).status_code == 200, minute
        # Strangers go on while admin stays away: after HARD_LIMIT consecutive failures
        # the account is closed to every address admin never signed in from...
        statuses = [guess() for _ in range(HARD_LIMIT + 2)]
        assert statuses == [401] * HARD_LIMIT + [429, 429]
        clock.now += 3600
        with from_address(service, "127.0.9.9", "admin", password) as newcomer:
            assert newcomer.get(API).status_code == 429  # even with the right password
        # ...but not to admin at home, where only that address's own counters apply.
        assert own.get(API).status_code == 200


def test_many_strangers_meet_a_short_account_delay_the_user_at_home_does_not(
        instances: Callable[[], RunningService], clock: FrozenClock) -> None:
    service = instances()
    with service.client() as own:
        assert own.get(API).status_code == 200
        for i in range(ACCOUNT.free):
            with from_address(service, stranger(i), "admin", "wrong-guess") as guesser:
                assert guesser.get(API).status_code == 401
        with from_address(service, stranger(50), "admin", "wrong-guess") as guesser:
            delayed = guesser.get(API)
        assert delayed.status_code == 429 and delayed.headers["retry-after"] == "1"
        assert own.get(API).status_code == 200


def test_an_operator_lifts_a_lock_with_user_unlock(
        instances: Callable[[], RunningService], clock: FrozenClock) -> None:
    service = instances()
    password = service.admin_password
    with from_address(service, "127.0.5.5", "admin", "wrong-guess") as guesser:
        for _ in range(FREE_FAILURES):
            assert guesser.get(API).status_code == 401
        assert guesser.get(API).status_code == 429
    with from_address(service, "127.0.5.5", "admin", password) as owner:
        assert owner.get(API).status_code == 429
        lifted = run("user", "unlock", "admin", "--address", "127.0.5.5",
                     "--data-dir", str(service.settings.data_dir))
        assert "lifted the sign-in limits on admin from 127.0.5.5" in lifted.stdout
        assert owner.get(API).status_code == 200


def records(service: RunningService, action: str) -> list[dict[str, Any]]:
    with service.client() as client:
        response = client.get(AUDIT, params={"action": action, "returnLimit": 1000})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_refusals_are_recorded_a_few_per_address_and_minute_then_summed_up(
        instances: Callable[[], RunningService], clock: FrozenClock) -> None:
    service = instances()
    unreadable = {**REQUESTED_WITH, "authorization": "Basic !!!"}
    with httpx.Client(base_url=service.url, timeout=60) as client:
        for _ in range(200):
            assert client.get(API, headers=unreadable).status_code == 401
        for _ in range(20):  # wrong passwords, then 429s: refusals all the same
            client.get(API, headers=REQUESTED_WITH, auth=("admin", "wrong-guess"))
        with from_address(service, "127.0.7.7", "someone", "wrong-guess") as elsewhere:
            assert elsewhere.get(API).status_code == 401  # another address: its own few
        clock.now += 60  # the minute is over; the next refusal sums it up
        assert client.get(API, headers=unreadable).status_code == 401
    with service.client() as client:
        assert client.get(API).status_code == 200  # and the right password gets in
    one_by_one = records(service, "FailedAuthentication")
    assert len(one_by_one) == RECORDED_REFUSALS_PER_MINUTE + 2
    assert Counter(r["ClientAddress"] for r in one_by_one) == {
        "127.0.0.1": RECORDED_REFUSALS_PER_MINUTE + 1, "127.0.7.7": 1}
    [summary] = records(service, "FailedAuthenticationSummary")
    unrecorded = 200 + 20 - RECORDED_REFUSALS_PER_MINUTE
    assert summary["ClientAddress"] == "127.0.0.1"
    assert summary["Detail"] == f"count={unrecorded}"
    assert f"{unrecorded} more refused sign-ins from 127.0.0.1" in summary["Message"]
    assert summary["Success"] is False
