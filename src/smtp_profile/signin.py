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
from smtp_profile.domain.errors import DomainError, ErrorKind, Throttled
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.throttle import SignInThrottle

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "The user name or password is wrong."


class SignIn:
    def __init__(self, accounts: Accounts, throttle: SignInThrottle | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._accounts = accounts
        self._throttle = throttle or SignInThrottle()
        self._clock = clock

    async def check(self, name: str, password: Secret, *, client: str,
                    channel: str) -> Principal:
        """The principal for a right password; raises Throttled or UNAUTHENTICATED.

        While a user or address must wait, the password is not even checked, so an
        attacker learns nothing from attempts made during the wait.
        """
        wait = self._throttle.wait_seconds(name, client, self._clock())
        if wait > 0:
            seconds = math.ceil(wait)
            raise Throttled(seconds, f"Too many failed sign-ins for this user or from this "
                                     f"address; try again in {seconds} seconds.")
        principal = await self._accounts.authenticate(name, password)
        if principal is None:
            self._throttle.failed(name, client, self._clock())
            self._failed(name, client, channel)
            raise DomainError(ErrorKind.UNAUTHENTICATED, WRONG_CREDENTIALS)
        self._throttle.succeeded(name)
        return principal

    def _failed(self, name: str, client: str, channel: str) -> None:
        # AUDIT (issue 4): the single call site for a failed sign-in, from the web page
        # (channel "web") or an API call with Basic auth (channel "basic"). Record it in
        # the audit trail here: user name as typed, client address, channel. Never the
        # password.
        log.warning("failed sign-in for user %r from %s via %s", name[:128], client, channel)
