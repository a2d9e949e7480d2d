"""Counters shared by every instance: sign-in attempts per user, address and both,
tests per user and minute, and the addresses each user signed in from before.

A sign-in attempt is counted in one transaction that locks its counters (in one order,
so two attempts never wait for each other crosswise), judges them and writes the new
counts, so concurrent attempts on any instance are counted one after the other and no
more get through than the limits allow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Table, case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.throttle import (
    ADDRESS,
    FORGET_AFTER_SECONDS,
    KNOWN_ADDRESS_DAYS,
    Counted,
    Judged,
    address_key,
    pair_key,
    pair_prefix,
    user_key,
)
from smtp_profile.store.errors import as_store_failures
from smtp_profile.store.tables import sign_in_addresses, throttle
from smtp_profile.store.upsert import upsert as dialect_upsert

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(value: datetime) -> float:
    return as_utc(value).timestamp()


def known_key(name: str) -> str:
    """The user as `sign_in_addresses` holds them: the name part of the throttle keys."""
    return user_key(name).partition(":")[2]


class ThrottleRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """INSERT with the dialect's ON CONFLICT clauses (both dialects spell them alike)."""
        return dialect_upsert(self._engine, table)

    async def increment(self, key: str, now: float) -> int:
        """Count one more for `key` (starting again after a quiet hour); the new count."""
        at = _at(now)
        stale = _at(now - FORGET_AFTER_SECONDS)
        upsert = self._insert(throttle).values(key=key, count=1, last_at=at)
        statement = upsert.on_conflict_do_update(
            index_elements=[throttle.c.key],
            set_={
                "count": case((throttle.c.last_at < stale, 1), else_=throttle.c.count + 1),
                "last_at": at,
            },
        ).returning(throttle.c.count)
        async with self._engine.begin() as connection:
            return int((await connection.execute(statement)).scalar_one())

    async def attempt(self, counters: tuple[Judged, ...], now: float) -> float:
        """Count one sign-in attempt on every counter, unless a binding one must still
        wait: then nothing is counted and the seconds to wait come back. 0.0: counted,
        the password may be checked."""
        at = _at(now)
        async with self._engine.connect() as connection:
            transaction = await connection.begin()
            try:
                current: dict[str, Counted] = {}
                for counter in counters:  # sorted by key: the lock order
                    record = await self._locked(connection, counter.key, at)
                    if record is not None:
                        current[counter.key] = record
                wait = max((current[c.key].wait(now) for c in counters
                            if c.binding and c.key in current), default=0.0)
                if wait > 0:
                    await transaction.rollback()
                    return wait
                for counter in counters:
                    record = current.get(counter.key)
                    count = 1 if record is None or now - record.last > FORGET_AFTER_SECONDS \
                        else record.count + 1
                    delay = counter.limit.wait_after(count)
                    await connection.execute(
                        update(throttle).where(throttle.c.key == counter.key).values(
                            count=count, last_at=at,
                            blocked_until=_at(now + delay) if delay > 0 else None))
                await transaction.commit()
                return 0.0
            except BaseException:
                if transaction.is_active:
                    await transaction.rollback()
                raise

    async def _locked(self, connection: AsyncConnection, key: str,
                      at: datetime) -> Counted | None:
        """The counter `key`, locked for this transaction (created empty if missing: the
        insert takes SQLite's write lock, the SELECT FOR UPDATE PostgreSQL's row lock)."""
        await connection.execute(
            self._insert(throttle).values(key=key, count=0, last_at=at)
            .on_conflict_do_nothing(index_elements=[throttle.c.key]))
        count, last_at, blocked_until = (await connection.execute(
            select(throttle.c.count, throttle.c.last_at, throttle.c.blocked_until)
            .where(throttle.c.key == key).with_for_update())).one()
        if count == 0:
            return None
        return Counted(int(count), _seconds(last_at),
                       None if blocked_until is None else _seconds(blocked_until))

    async def signed_in(self, name: str, address: str, now: float, *, counted: bool,
                        known: bool) -> None:
        """A right password: the user's failures end (theirs from this address and the
        account's), the attempt is taken back from the address's count (it was no
        failure) and the address is remembered as one the user signs in from."""
        async with self._engine.begin() as connection:
            if counted:  # keys in the lock order: address, pair, user
                remaining = throttle.c.count - 1
                await connection.execute(
                    update(throttle).where(throttle.c.key == address_key(address)).values(
                        count=case((remaining < 0, 0), else_=remaining),
                        blocked_until=case((remaining < ADDRESS.free, None),
                                           else_=throttle.c.blocked_until)))
            await connection.execute(delete(throttle).where(
                throttle.c.key.in_([pair_key(name, address), user_key(name)])))
            if not known or counted:
                at = _at(now)
                upsert = self._insert(sign_in_addresses).values(
                    user_key=known_key(name), address=address[:64], last_at=at)
                await connection.execute(upsert.on_conflict_do_update(
                    index_elements=[sign_in_addresses.c.user_key, sign_in_addresses.c.address],
                    set_={"last_at": at}))

    async def unlock(self, name: str, address: str | None = None) -> int:
        """Lift the sign-in limits on `name` (from `address` only, and that address's own
        count, if given): the operator's way out of a lock. How many counters went."""
        condition: ColumnElement[bool] = (
            throttle.c.key.startswith(pair_prefix(name), autoescape=True)
            | (throttle.c.key == user_key(name)) if address is None
            else throttle.c.key.in_([pair_key(name, address), user_key(name),
                                     address_key(address)]))
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(throttle).where(condition))
        return int(result.rowcount or 0)

    async def clear(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(delete(throttle).where(throttle.c.key == key))

    async def prune(self, now: float) -> int:
        """Forget counters quiet for an hour and no longer blocking, and addresses no
        one signed in from for KNOWN_ADDRESS_DAYS."""
        stale = _at(now - FORGET_AFTER_SECONDS)
        # Counters an attempt holds are skipped (PostgreSQL; SQLite has one writer), the
        # rest locked in key order like an attempt's, so the two never deadlock.
        forgotten = (select(throttle.c.key).where(
            (throttle.c.last_at < stale)
            & (throttle.c.blocked_until.is_(None) | (throttle.c.blocked_until < _at(now))))
            .order_by(throttle.c.key).with_for_update(skip_locked=True))
        with as_store_failures():  # the periodic upkeep's (usecases/signin.py)
            async with self._engine.begin() as connection:
                result = await connection.execute(
                    delete(throttle).where(throttle.c.key.in_(forgotten.scalar_subquery())))
                await connection.execute(delete(sign_in_addresses).where(
                    sign_in_addresses.c.last_at
                    < _at(now) - timedelta(days=KNOWN_ADDRESS_DAYS)))
        return int(result.rowcount or 0)
