"""GET /SMTP's fast path (server/api/fast_read.py) and the memory behind it: the same
answers as the routes, one snapshot read at most, never an answer the database no longer
backs (a PUT, a password change, a removed permission or a lockout on another instance),
and every GET it leaves to the routes counted and logged with its reason."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.throttle import ADDRESS
from smtp_profile.server.api.fast_read import Fallback, FastReadCounts
from smtp_profile.store.users import UserRepository
from smtp_profile.usecases.ports import StoreUnavailable
from smtp_profile.usecases.signin import SignIn
from tests.api.conftest import StatementCounter
from tests.support.service import (
    REQUESTED_WITH,
    RunningService,
    add_user,
    run_async,
)

API = "/KeyfactorAPI/SMTP"
PROFILE = {"Host": "relay.corp.local", "Port": 587, "RelayAuthenticationType": 2,
           "RelayUsername": "svc", "RelayPassword": "relay-pw-1", "UseSSL": True,
           "SenderAccount": "pki@corp.local", "SenderName": "PKI"}


def get(client: httpx.Client) -> httpx.Response:
    return client.get(API)


def warm(client: httpx.Client) -> None:
    """Two GETs: the first verifies the password, the second takes the fast path."""
    for _ in range(2):
        response = get(client)
        assert response.status_code == 200, response.text


def fast_read_counts(service: RunningService) -> FastReadCounts:
    """The fast path's own counts, as the app keeps them."""
    app = service.server.config.app
    assert isinstance(app, FastAPI)
    counts: FastReadCounts = app.state.fast_read
    return counts


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "date")
    return response.status_code, headers, response.content


@pytest.mark.parametrize("version", [1, 2])
def test_the_fast_answer_is_the_routes_answer_byte_for_byte(service: RunningService,
                                                            version: int) -> None:
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
    # A new runtime memory: the first GET after a restart of the password check goes
    # through the routes (the password was never verified), the second takes the fast path.
    service.runtime.accounts._verified.clear()
    with service.client(version=version) as client:
        routed = get(client)
        fast = get(client)
    assert routed.status_code == 200
    assert comparable(fast) == comparable(routed)
    assert routed.json()["SenderName"] == "PKI"


def test_a_get_no_write_preceded_costs_no_statement(
        service: RunningService, counter: StatementCounter) -> None:
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        assert get(client).status_code == 200
        for _ in range(5):
            statements = counter.during(lambda: get(client))
            # SQLite: PRAGMA data_version, outside the engine, says nothing changed.
            # PostgreSQL: no notification arrived on the change feed since.
            assert statements == [], statements
        assert client.put(API, json={**PROFILE, "Port": 25}).status_code == 200
        # After a write: the snapshot read, and no more (the PUT left the new profile
        # in memory, and its version in the snapshot says it is still current).
        statements = counter.during(lambda: get(client))
        assert len(statements) == 1, statements


def test_a_put_on_one_instance_is_what_the_other_returns_next(
        pair: tuple[RunningService, RunningService]) -> None:
    first, second = pair
    with first.client() as writer, second.client() as reader:
        for port in (25, 587, 2525, 465):
            warm(reader)
            assert writer.put(API, json={**PROFILE, "Port": port}).status_code == 200
            response = get(reader)
            assert response.json()["Port"] == port
            assert response.headers["etag"] == get(writer).headers["etag"]


def test_a_password_changed_elsewhere_is_refused_at_once(
        pair: tuple[RunningService, RunningService]) -> None:
    first, second = pair
    add_user(first.settings, "reader", "reader-password-1", "/system_settings/read/")
    with second.client("reader", "reader-password-1") as reader:
        warm(reader)
        run_async(_set_password(first, "reader", "reader-password-2"))
        assert get(reader).status_code == 401
    with second.client("reader", "reader-password-2") as reader:
        assert get(reader).status_code == 200


def test_a_removed_user_is_refused_at_once(
        pair: tuple[RunningService, RunningService]) -> None:
    first, second = pair
    add_user(first.settings, "reader", "reader-password-1", "/system_settings/read/")
    with second.client("reader", "reader-password-1") as reader:
        warm(reader)
        run_async(_remove(first, "reader"))
        assert get(reader).status_code == 401
        # Back with the same password but without the read permission: 403, not a
        # remembered 200 (the permission comes from the row read with the password).
        add_user(first.settings, "reader", "reader-password-1", "/system_settings/modify/")
        assert get(reader).status_code == 403


@pytest.mark.parametrize("guessed", ["victim", "someone-else"])
def test_a_lockout_on_another_instance_holds_for_a_remembered_password(
        pair: tuple[RunningService, RunningService], guessed: str) -> None:
    """The throttle is consulted before the memory of right passwords: otherwise a
    guesser locked out could still learn when a guess was right. Guessing at the victim
    locks the victim's name from this address; guessing at anyone locks the guesser's
    address (the same loopback address as the victim's here)."""
    first, second = pair
    add_user(first.settings, "victim", "victim-password-1", "/system_settings/read/")
    # The second instance's clock stands still, so the wait the guesses earn cannot
    # run out while the test looks (no sleeping, no timing).
    standing = time.time()
    runtime = second.runtime
    runtime.sign_in = SignIn(runtime.accounts, runtime.audit, runtime.counters,
                             runtime.snapshots, clock=lambda: standing)
    with second.client("victim", "victim-password-1") as victim:
        warm(victim)
        # Someone else: a new name each time, or that name's own limit would stop the
        # guesses before the address's does.
        names = [guessed if guessed == "victim" else f"{guessed}-{i}"
                 for i in range(ADDRESS.free + 2)]
        with httpx.Client(base_url=first.url, headers=REQUESTED_WITH, timeout=60) as guesser:
            statuses = {guesser.get(API, auth=(name, "wrong-guess")).status_code
                        for name in names}
        assert 429 in statuses
        locked = get(victim)
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["retry-after"]) >= 1


def test_the_fast_path_leaves_refusals_to_the_routes(service: RunningService) -> None:
    with service.client() as client:
        warm(client)
        missing = client.get(API, headers={"x-keyfactor-requested-with": ""})
        bad_version = client.get(API, headers={"x-keyfactor-api-version": "3"})
    assert missing.status_code == 400
    assert missing.json()["ErrorCode"]
    assert bad_version.status_code == 400
    with service.client(password="not-the-password") as wrong:
        refused = get(wrong)
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers


def test_a_warm_get_is_answered_by_the_fast_path_not_the_routes(
        service: RunningService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not merely the same bytes: the fast path counts the answer as its own, and the
    route's use case is never called for it."""
    counts = fast_read_counts(service)
    routed: list[object] = []
    route_get = service.runtime.service.get

    async def counted_get(*args: Any, **kwargs: Any) -> Any:
        routed.append(args)
        return await route_get(*args, **kwargs)

    monkeypatch.setattr(service.runtime.service, "get", counted_get)
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        service.runtime.accounts._verified.clear()
        answered = counts.answered
        not_recognised = counts.fallbacks[Fallback.NOT_RECOGNISED]
        first = get(client)  # the password was never verified: the routes answer
        assert first.status_code == 200
        assert len(routed) == 1
        assert counts.answered == answered
        assert counts.fallbacks[Fallback.NOT_RECOGNISED] == not_recognised + 1
        for expected in range(1, 4):
            fast = get(client)
            assert fast.status_code == 200
            assert fast.content == first.content
            assert counts.answered == answered + expected
        assert len(routed) == 1  # the routes were not reached again


def test_every_fallback_is_counted_and_logged_with_its_reason(
        service: RunningService, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    counts = fast_read_counts(service)
    caplog.set_level(logging.DEBUG, logger="smtp_profile.server.api.fast_read")
    add_user(service.settings, "writer", "writer-password-1", "/system_settings/modify/")
    with service.client() as client:
        warm(client)
        before = counts.fallbacks.copy()
        assert client.get(API, headers={"x-keyfactor-api-version": "3"}).status_code == 400
        assert client.get(API, auth=("admin", "not-the-password")).status_code == 401

        async def unavailable(*_args: Any, **_kwargs: Any) -> None:
            raise StoreUnavailable("test: the database went away")

        # The fast path leaves a database failure to the routes, which read again (here
        # with success: only the fast path's read was made to fail).
        monkeypatch.setattr(service.runtime.sign_in, "recognised", unavailable)
        assert get(client).status_code == 200
        monkeypatch.undo()

        async def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("test: a fault in the fast path itself")

        # A fault of the fast path's own costs the caller nothing: the routes answer the
        # same bytes, and the next GET is the fast path's again.
        fast = get(client)
        monkeypatch.setattr(service.runtime.sign_in, "recognised", broken)
        routed = get(client)
        monkeypatch.undo()
        assert (routed.status_code, routed.content) == (200, fast.content)
        answered = counts.answered
        assert get(client).status_code == 200 and counts.answered == answered + 1
    with httpx.Client(base_url=service.url, headers=REQUESTED_WITH, timeout=60) as anonymous:
        assert anonymous.get(API).status_code == 401
    with service.client("writer", "writer-password-1") as writer:
        warm_writer = [get(writer).status_code for _ in range(2)]
    assert warm_writer == [403, 403]
    counted = counts.fallbacks - before
    assert counted == {Fallback.HEADERS: 1, Fallback.NOT_RECOGNISED: 2,
                       Fallback.STORE_UNAVAILABLE: 1, Fallback.NO_BASIC_CREDENTIALS: 1,
                       Fallback.NO_READ_PERMISSION: 1, Fallback.ERROR: 1}, counted
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("fast_read")]
    for reason in counted:
        assert any(message.endswith(f": {reason}") for message in logged), (reason, logged)
    assert "test: a fault in the fast path itself" in caplog.text  # with its traceback
    text = caplog.text
    assert "not-the-password" not in text and "writer-password-1" not in text
    assert service.admin_password not in text


async def _set_password(service: RunningService, name: str, password: str) -> None:
    from smtp_profile.runtime import Runtime

    runtime = Runtime.open(service.settings)
    try:
        await runtime.accounts.set_password(name, Secret(password))
    finally:
        await runtime.close()


async def _remove(service: RunningService, name: str) -> None:
    from smtp_profile.runtime import Runtime

    runtime = Runtime.open(service.settings)
    try:
        await UserRepository(runtime.engine).remove(name)
    finally:
        await runtime.close()
