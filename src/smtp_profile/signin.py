"""Checking a user's password, for the API's Basic auth and the web page's sign-in alike.

Both ways in share one throttle, so guessing through Basic auth is no faster than
through the sign-in form, and one place notices every failed sign-in.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from smtp_profile.accounts import Accounts, Principal
from smtp_profile.audit import AuditTrail
from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind, Throttled
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.throttle import address_key, sign_in_wait, user_key
from smtp_profile.store.throttle import ThrottleRepository

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "The user name or password is wrong."


class SignIn:
    def __init__(self, accounts: Accounts, audit: AuditTrail, counters: ThrottleRepository,
                 clock: Callable[[], float] = time.time) -> None:
        self._accounts = accounts
        self._audit = audit
        self._counters = counters
        self._clock = clock

    async def check(self, name: str, password: Secret, *, client: str,
                    channel: str) -> Principal:
        """The principal for a right password; raises Throttled or UNAUTHENTICATED.

        While a user or address must wait, the password is not even checked, so an
        attacker learns nothing from attempts made during the wait.
        """
        now = self._clock()
        keys = (user_key(name), address_key(client))
        counted = await self._counters.get(keys)
        wait = sign_in_wait(counted.get(keys[0]), counted.get(keys[1]), now)
        if wait > 0:
            seconds = math.ceil(wait)
            throttled = Throttled(seconds, f"Too many failed sign-ins for this user or from "
                                           f"this address; try again in {seconds} seconds.")
            await self._failed(name, client, channel, throttled)
            raise throttled
        principal = await self._accounts.authenticate(name, password)
        if principal is None:
            for key in keys:
                await self._counters.increment(key, now)
            error = DomainError(ErrorKind.UNAUTHENTICATED, WRONG_CREDENTIALS)
            await self._failed(name, client, channel, error)
            raise error
        if keys[0] in counted:
            # A right password clears the user's count, not the address's: signing in to
            # one's own account must not reset the count of guesses at someone else's.
            await self._counters.clear(keys[0])
        return principal

    async def _failed(self, name: str, client: str, channel: str, error: DomainError) -> None:
        """The one place every refused sign-in (web page or Basic auth) is recorded:
        the user name as typed, the client address and the way in. Never the password."""
        log.warning("failed sign-in for user %r from %s via %s", name[:128], client, channel)
        await self._audit.record(action=AuditAction.FAILED_AUTHENTICATION, user=name,
                                 client=client, outcome=Outcome.of_error(error),
                                 detail=channel)
