"""Web sessions in the database (SQLite and PostgreSQL): lifetime, hashing, sign-out."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from smtp_profile.domain.permissions import ALL_PERMISSIONS, Permission
from smtp_profile.domain.secrets import Secret
from smtp_profile.settings import async_url
from smtp_profile.store.audit import AuditRepository
from smtp_profile.store.database import create_engine_for, migrate
from smtp_profile.store.sessions import SessionRepository
from smtp_profile.store.snapshot import SnapshotReader
from smtp_profile.store.sqlite_writer import writer_for
from smtp_profile.store.tables import web_sessions
from smtp_profile.store.throttle import ThrottleRepository
from smtp_profile.store.users import UserRepository
from smtp_profile.usecases.accounts import Accounts
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.signin import SignIn
from smtp_profile.usecases.web_sessions import WebSessions

T = TypeVar("T")
LIFETIME = timedelta(minutes=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stack:
    engine: AsyncEngine
    accounts: Accounts
    sign_in: SignIn
    sessions: WebSessions
    repository: SessionRepository
    clock: Clock


def with_stack(url: str, body: Callable[[Stack], Awaitable[T]]) -> T:
    """Migrate a fresh database, build the real parts on it, run `body`, close."""
    url = async_url(url)
    migrate(url)

    async def run() -> T:
        engine = create_engine_for(url)
        writer = writer_for(url)
        snapshots = SnapshotReader(engine)
        try:
            clock = Clock()
            repository = SessionRepository(engine)
            accounts = Accounts(UserRepository(engine))
            audit = AuditTrail(AuditRepository(engine, writer), retention_days=0)
            stack = Stack(engine, accounts,
                          SignIn(accounts, audit, ThrottleRepository(engine), snapshots),
                          WebSessions(repository, LIFETIME, clock), repository, clock)
            await stack.accounts.add("alice", Secret("alice-password-1"), ALL_PERMISSIONS)
            await stack.accounts.add("rita", Secret("rita-password-1"),
                                     frozenset({Permission.READ}))
            return await body(stack)
        finally:
            await snapshots.aclose()
            if writer is not None:
                writer.close()
            await engine.dispose()

    return asyncio.run(run())


async def sign_in(stack: Stack, name: str) -> str:
    """Signed in the way the page signs in (the sign-in use case), then a session."""
    principal = (await stack.sign_in.admit(name, Secret(f"{name}-password-1"),
                                           client="192.0.2.10", channel="test")).principal
    assert principal is not None
    return (await stack.sessions.open(principal)).token.reveal()


def test_a_session_names_its_user_until_it_expires(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        token = await sign_in(stack, "rita")
        active = await stack.sessions.resolve(token)
        assert active is not None
        assert active.principal.name == "rita"
        assert active.principal.permissions == frozenset({Permission.READ})
        assert active.expires_at == stack.clock.now + LIFETIME
        stack.clock.now += LIFETIME - timedelta(seconds=1)
        assert await stack.sessions.resolve(token) is not None
        stack.clock.now += timedelta(seconds=1)
        assert await stack.sessions.resolve(token) is None

    with_stack(database_url, body)


def test_only_a_hash_of_the_token_is_stored(database_url: str) -> None:
    async def body(stack: Stack) -> list[tuple[object, ...]]:
        token = await sign_in(stack, "alice")
        async with stack.engine.connect() as connection:
            rows = [tuple(r) for r in (await connection.execute(select(web_sessions))).all()]
        assert rows[0][0] == hashlib.sha256(token.encode()).hexdigest()
        assert all(token not in str(value) for row in rows for value in row)
        return rows

    assert len(with_stack(database_url, body)) == 1


def test_sign_out_ends_only_that_session(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        first = await sign_in(stack, "alice")
        second = await sign_in(stack, "alice")
        assert first != second
        assert await stack.sessions.close(first) is True
        assert await stack.sessions.resolve(first) is None
        assert await stack.sessions.close(first) is False
        assert await stack.sessions.resolve(second) is not None

    with_stack(database_url, body)


def test_a_new_password_or_removing_the_user_ends_their_sessions(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        alice = await sign_in(stack, "alice")
        rita = await sign_in(stack, "rita")
        await stack.accounts.set_password("alice", Secret("a-brand-new-password"))
        assert await stack.sessions.resolve(alice) is None
        assert await stack.sessions.resolve(rita) is not None
        await stack.accounts.remove("RITA")
        assert await stack.sessions.resolve(rita) is None
        assert await stack.repository.count() == 0

    with_stack(database_url, body)


def test_expired_sessions_are_swept_when_someone_signs_in(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        await sign_in(stack, "alice")
        await sign_in(stack, "rita")
        stack.clock.now += LIFETIME
        await sign_in(stack, "alice")
        assert await stack.repository.count() == 1

    with_stack(database_url, body)


def test_tokens_that_cannot_be_ours_are_refused_without_a_lookup(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        token = await sign_in(stack, "alice")
        for bad in ("", "x" * 5000, token[:-1], token + "A", token[:-1] + "!", "' OR 1=1 --"):
            assert await stack.sessions.resolve(bad) is None
            assert await stack.sessions.close(bad) is False
        assert await stack.sessions.resolve(token) is not None

    with_stack(database_url, body)


MAXIMUM = timedelta(hours=2)


def sliding(stack: Stack) -> WebSessions:
    """The stack's sessions, sliding: 30 minutes idle, two hours at most."""
    return WebSessions(stack.repository, LIFETIME, stack.clock, maximum=MAXIMUM)


async def stored_end(stack: Stack, token: str) -> datetime:
    """The end written in the database for `token`'s session."""
    async with stack.engine.connect() as connection:
        value = (await connection.execute(
            select(web_sessions.c.expires_at)
            .where(web_sessions.c.token_hash == hashlib.sha256(token.encode()).hexdigest())
        )).scalar_one()
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_used_session_slides_and_an_idle_one_ends(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        sessions = sliding(stack)
        principal = (await stack.sessions.resolve(await sign_in(stack, "alice")))
        assert principal is not None
        token = (await sessions.open(principal.principal)).token.reveal()
        signed_in_at = stack.clock.now
        # Used every 20 minutes for an hour: it never ends, each use moves its end.
        for _ in range(3):
            stack.clock.now += timedelta(minutes=20)
            active = await sessions.resolve(token)
            assert active is not None
            assert active.expires_at == stack.clock.now + LIFETIME
            assert active.ends_by == signed_in_at + MAXIMUM
            assert await stored_end(stack, token) == stack.clock.now + LIFETIME
        # Left alone for the lifetime: it has ended (the failure) ...
        stack.clock.now += LIFETIME
        assert await sessions.resolve(token) is None
        # ... and signing in again works on the same database (the success).
        again = (await sessions.open(principal.principal)).token.reveal()
        assert (await sessions.resolve(again)) is not None

    with_stack(database_url, body)


def test_a_session_is_written_at_most_once_a_minute(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        sessions = sliding(stack)
        alice = await stack.sessions.resolve(await sign_in(stack, "alice"))
        assert alice is not None
        token = (await sessions.open(alice.principal)).token.reveal()
        opened_end = await stored_end(stack, token)
        stack.clock.now += timedelta(seconds=59)
        active = await sessions.resolve(token)
        assert active is not None
        assert active.expires_at == opened_end  # no write for a use within the minute
        assert await stored_end(stack, token) == opened_end
        stack.clock.now += timedelta(seconds=1)
        active = await sessions.resolve(token)
        assert active is not None
        assert await stored_end(stack, token) == stack.clock.now + LIFETIME == active.expires_at

    with_stack(database_url, body)


def test_however_active_a_session_ends_at_its_maximum(database_url: str) -> None:
    async def body(stack: Stack) -> None:
        sessions = sliding(stack)
        alice = await stack.sessions.resolve(await sign_in(stack, "alice"))
        assert alice is not None
        token = (await sessions.open(alice.principal)).token.reveal()
        ends_by = stack.clock.now + MAXIMUM
        last_end = stack.clock.now
        while stack.clock.now < ends_by - timedelta(minutes=10):
            stack.clock.now += timedelta(minutes=10)
            active = await sessions.resolve(token)
            assert active is not None
            assert active.expires_at <= ends_by
            last_end = active.expires_at
        assert last_end == ends_by  # the last extension stops exactly at the maximum
        stack.clock.now = ends_by
        assert await sessions.resolve(token) is None  # the failure ...
        fresh = (await sessions.open(alice.principal)).token.reveal()
        active = await sessions.resolve(fresh)  # ... then a new sign-in works
        assert active is not None
        assert active.ends_by == stack.clock.now + MAXIMUM

    with_stack(database_url, body)


def test_a_maximum_lowered_since_sign_in_ends_the_session(database_url: str) -> None:
    """A restart with a shorter `--session-max-minutes` ends the sessions already past
    it, though their stored end is later (they were slid under the old maximum)."""
    async def body(stack: Stack) -> None:
        sessions = sliding(stack)
        alice = await stack.sessions.resolve(await sign_in(stack, "alice"))
        assert alice is not None
        token = (await sessions.open(alice.principal)).token.reveal()
        for _ in range(2):
            stack.clock.now += timedelta(minutes=20)
            assert await sessions.resolve(token) is not None  # slid to 70 minutes
        shorter = WebSessions(stack.repository, LIFETIME, stack.clock,
                              maximum=timedelta(hours=1))
        stack.clock.now += timedelta(minutes=20)
        assert await shorter.resolve(token) is None  # the failure ...
        assert await sessions.resolve(token) is not None  # (the old maximum would not)
        fresh = (await shorter.open(alice.principal)).token.reveal()
        assert await shorter.resolve(fresh) is not None  # ... then a new sign-in works

    with_stack(database_url, body)
