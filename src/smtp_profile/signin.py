"""Checking a user's password, for the API's Basic auth and the web page's sign-in alike.

Both ways in share one throttle, so guessing through Basic auth is no faster than
through the sign-in form, and one place notices every failed sign-in.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from smtp_profile.accounts import Accounts, Principal
from smtp_profile.audit import AuditTrail
from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind, Throttled
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.throttle import address_key, sign_in_wait, user_key
from smtp_profile.store.profiles import ProfileStamp
from smtp_profile.store.snapshot import Snapshot, SnapshotReader
from smtp_profile.store.throttle import ThrottleRepository

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "The user name or password is wrong."


@dataclass(frozen=True)
class Admission:
    """A signed-in caller, and what the same read said about the stored state."""

    principal: Principal
    snapshot: Snapshot

    @property
    def profile_version(self) -> int:
        return self.snapshot.profile_version

    @property
    def profile_stamp(self) -> ProfileStamp:
        return self.snapshot.profile_stamp


def must_wait(snapshot: Snapshot, name: str, client: str, now: float) -> float:
    return sign_in_wait(snapshot.counters.get(user_key(name)),
                        snapshot.counters.get(address_key(client)), now)


class SignIn:
    def __init__(self, accounts: Accounts, audit: AuditTrail, counters: ThrottleRepository,
                 snapshots: SnapshotReader, clock: Callable[[], float] = time.time) -> None:
        self._accounts = accounts
        self._audit = audit
        self._counters = counters
        self._snapshots = snapshots
        self._clock = clock

    async def recognised(self, name: str, password: Secret, *,
                         client: str) -> Admission | None:
        """The caller, if nothing can happen but letting them in: no wait, no failure
        count to clear, and this password verified before for this unchanged user.
        Otherwise None, and `admit` must decide (check the password, count, audit).
        Costs one snapshot read (none on SQLite while nothing was committed)."""
        snapshot = await self._snapshots.read(name, client)
        return self._remembered(snapshot, name, password, client)

    def _remembered(self, snapshot: Snapshot, name: str, password: Secret,
                    client: str) -> Admission | None:
        if (snapshot.user is None or user_key(name) in snapshot.counters
                or must_wait(snapshot, name, client, self._clock()) > 0):
            return None
        principal = self._accounts.remembered(snapshot.user, password)
        return None if principal is None else Admission(principal, snapshot)

    async def check(self, name: str, password: Secret, *, client: str,
                    channel: str) -> Principal:
        return (await self.admit(name, password, client=client, channel=channel)).principal

    async def admit(self, name: str, password: Secret, *, client: str,
                    channel: str) -> Admission:
        """The caller for a right password; raises Throttled or UNAUTHENTICATED.

        While a user or address must wait, the password is not even checked (not even
        against the passwords remembered as right), so an attacker learns nothing from
        attempts made during the wait.
        """
        now = self._clock()
        snapshot = await self._snapshots.read(name, client)
        wait = must_wait(snapshot, name, client, now)
        if wait > 0:
            seconds = math.ceil(wait)
            throttled = Throttled(seconds, f"Too many failed sign-ins for this user or from "
                                           f"this address; try again in {seconds} seconds.")
            await self._failed(name, client, channel, throttled)
            raise throttled
        principal = await self._accounts.check(snapshot.user if name else None, password)
        if principal is None:
            for key in (user_key(name), address_key(client)):
                await self._counters.increment(key, now)
            error = DomainError(ErrorKind.UNAUTHENTICATED, WRONG_CREDENTIALS)
            await self._failed(name, client, channel, error)
            raise error
        if user_key(name) in snapshot.counters:
            # A right password clears the user's count, not the address's: signing in to
            # one's own account must not reset the count of guesses at someone else's.
            await self._counters.clear(user_key(name))
        return Admission(principal, snapshot)

    async def _failed(self, name: str, client: str, channel: str, error: DomainError) -> None:
        """The one place every refused sign-in (web page or Basic auth) is recorded:
        the user name as typed, the client address and the way in. Never the password."""
        log.warning("failed sign-in for user %r from %s via %s", name[:128], client, channel)
        await self._audit.record(action=AuditAction.FAILED_AUTHENTICATION, user=name,
                                 client=client, outcome=Outcome.of_error(error),
                                 detail=channel)
