"""Checking a user's password, for the API's Basic auth and the web page's sign-in alike.

Both ways in share one throttle (`domain/throttle.py`), so guessing through Basic auth
is no faster than through the sign-in form, and one place notices every refused sign-in.

A password that must be checked is first counted, atomically, on the counters of its
user, address and both; only an attempt the counters let through is checked. So
concurrent guesses (on one instance or several) are checked no more often than the
limits allow, and a right password sent among them is refused like the rest once the
limits are reached. A password this process verified before for the same stored hash
costs no count, but is judged by the same counters first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import NoReturn

from smtp_profile.domain.audit import Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind, Throttled, seconds
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import ProfileStamp, Snapshot
from smtp_profile.domain.throttle import pair_key, sign_in_counters, sign_in_wait, user_key
from smtp_profile.usecases.accounts import Accounts, Principal
from smtp_profile.usecases.audit_trail import AuditTrail
from smtp_profile.usecases.ports import (
    Clock,
    SignInCounters,
    SnapshotSource,
    StoreFault,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "The user name or password is wrong."
MAINTENANCE_SECONDS = 60.0
PRUNE_EVERY_ROUNDS = 60  # quiet counters are forgotten hourly


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
    """Seconds a sign-in by `name` from `client` must wait, by the counters in `snapshot`."""
    counters = sign_in_counters(name, client, known=snapshot.known_address)
    return sign_in_wait(counters, snapshot.counters, now)


def throttled(wait: float) -> Throttled:
    retry = max(1, math.ceil(wait))
    return Throttled(retry, f"Too many failed sign-ins for this user or from this "
                            f"address; try again in {seconds(retry)}.")


class SignIn:
    def __init__(self, accounts: Accounts, audit: AuditTrail, counters: SignInCounters,
                 snapshots: SnapshotSource, clock: Clock = time.time) -> None:
        self._accounts = accounts
        self._audit = audit
        self._counters = counters
        self._snapshots = snapshots
        self._clock = clock

    async def recognised(self, name: str, password: Secret, *,
                         client: str) -> Admission | None:
        """The caller, if nothing can happen but letting them in: no wait, no failure
        count to clear, an address known for the user, and this password verified
        before for this unchanged user. Otherwise None, and `admit` must decide (count,
        check the password, audit). Costs one snapshot read (none on SQLite while
        nothing was committed)."""
        snapshot = await self._snapshots.read(name, client)
        return self._recognised_in(snapshot, name, password, client)

    async def profile_stamp(self, client: str) -> ProfileStamp:
        """The stored profile's stamp, for a caller signed in another way (a bearer
        token): a snapshot read for no user (none while nothing was committed)."""
        return (await self._snapshots.read("", client)).profile_stamp

    def _recognised_in(self, snapshot: Snapshot, name: str, password: Secret,
                       client: str) -> Admission | None:
        if snapshot.user is None or not snapshot.known_address:
            return None
        if snapshot.counters and (  # none counted, as almost always: nothing to judge
                user_key(name) in snapshot.counters
                or pair_key(name, client) in snapshot.counters
                or must_wait(snapshot, name, client, self._clock()) > 0):
            return None
        principal = self._accounts.verified_before(snapshot.user, password)
        return None if principal is None else Admission(principal, snapshot)

    async def admit(self, name: str, password: Secret, *, client: str,
                    channel: str) -> Admission:
        """The caller for a right password; raises Throttled or UNAUTHENTICATED.

        While a counter makes the user or address wait, the password is not checked
        (not even against the passwords remembered as right), so an attacker learns
        nothing from attempts made during the wait.
        """
        now = self._clock()
        snapshot = await self._snapshots.read(name, client)
        known = snapshot.known_address
        verified = (None if snapshot.user is None
                    else self._accounts.verified_before(snapshot.user, password))
        if verified is not None:  # right, and no guess: judged, not counted
            wait = must_wait(snapshot, name, client, now)
            if wait > 0:
                await self._refused(name, client, channel, throttled(wait))
            if (not known or user_key(name) in snapshot.counters
                    or pair_key(name, client) in snapshot.counters):
                await self._counters.signed_in(name, client, now, counted=False, known=known)
            return Admission(verified, snapshot)
        wait = await self._counters.attempt(sign_in_counters(name, client, known=known), now)
        if wait > 0:
            await self._refused(name, client, channel, throttled(wait))
        principal = await self._accounts.verify(snapshot.user if name else None, password)
        if principal is None:
            await self._refused(name, client, channel,
                                DomainError(ErrorKind.UNAUTHENTICATED, WRONG_CREDENTIALS))
        await self._counters.signed_in(name, client, now, counted=True, known=known)
        return Admission(principal, snapshot)

    async def unreadable(self, user: str | None, client: str, detail: str,
                         error: DomainError) -> None:
        """Credentials that could not even be read (`Basic !!!`): recorded, bounded."""
        await self._audit.record_refusal(user=user, client=client,
                                         outcome=Outcome.of_error(error), detail=detail)

    async def _refused(self, name: str, client: str, channel: str,
                       error: DomainError) -> NoReturn:
        """The one place every refused sign-in (web page or Basic auth) is recorded: the
        user name as typed, the client address and the way in, never the password;
        beyond a few per address and minute only counted (one summary record later).
        Raises `error`."""
        log.warning("refused sign-in for user %r from %s via %s: %s", name[:128], client,
                    channel, error.kind.name)
        await self._audit.record_refusal(user=name, client=client,
                                         outcome=Outcome.of_error(error), detail=channel)
        raise error

    async def unlock(self, name: str, address: str | None = None) -> int:
        """Lift the sign-in limits on `name` (from `address` only, and that address's own
        count, if given): the operator's way out of a lock. How many counters went."""
        return await self._counters.unlock(name, address)

    async def maintain_periodically(self, interval: float = MAINTENANCE_SECONDS) -> None:
        """Every `interval` seconds until cancelled: write the summaries of refusals of
        the minutes past (and hourly forget quiet counters); a failure waits for the
        next round."""
        rounds = 0
        while True:
            await asyncio.sleep(interval)
            rounds += 1
            try:
                await self._audit.summarize_refusals()
                if rounds % PRUNE_EVERY_ROUNDS == 0:
                    await self._counters.prune(self._clock())
            except (StoreUnavailable, StoreFault) as exc:
                log.warning("sign-in counter upkeep failed, will retry: %s",
                            type(exc).__name__)
