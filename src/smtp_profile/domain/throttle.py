"""Slowing down password guessing: failed sign-ins per user and per client address.

A few failures are free (people mistype); after that each further failure doubles a
waiting time during which every sign-in for that user or from that address is refused
without checking the password, so guessing gains nothing by hammering. The wait for a
user is capped lower than the wait for an address: a stranger can delay the real admin
by a minute at worst, while one address guessing many users is held back much longer.

Pure logic: time comes in as `now` (seconds, monotonic), state is bounded in size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

FREE_FAILURES = 5
FIRST_WAIT_SECONDS = 1.0
MAX_USER_WAIT_SECONDS = 60.0
MAX_ADDRESS_WAIT_SECONDS = 900.0
FORGET_AFTER_SECONDS = 3600.0
MAX_TRACKED_KEYS = 10_000


@dataclass
class _Failures:
    count: int
    last: float
    blocked_until: float


class _Counter:
    """Failures per key with a capped exponential wait; forgets quiet keys."""

    def __init__(self, max_wait: float, max_keys: int) -> None:
        self._max_wait = max_wait
        self._max_keys = max_keys
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last > FORGET_AFTER_SECONDS:
            del self._entries[key]
            return None
        return entry

    def wait(self, key: str, now: float) -> float:
        entry = self._current(key, now)
        return 0.0 if entry is None else max(0.0, entry.blocked_until - now)

    def fail(self, key: str, now: float) -> None:
        entry = self._current(key, now) or _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        excess = entry.count - FREE_FAILURES
        if excess > 0:
            delay = min(self._max_wait, FIRST_WAIT_SECONDS * 2 ** min(excess - 1, 30))
            entry.blocked_until = now + delay
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_keys:
            self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


class SignInThrottle:
    """How long a sign-in for (user, address) must wait; fed with each attempt's outcome."""

    def __init__(self, *, max_user_wait: float = MAX_USER_WAIT_SECONDS,
                 max_address_wait: float = MAX_ADDRESS_WAIT_SECONDS,
                 max_keys: int = MAX_TRACKED_KEYS) -> None:
        self._users = _Counter(max_user_wait, max_keys)
        self._addresses = _Counter(max_address_wait, max_keys)

    @staticmethod
    def user_key(name: str) -> str:
        return name.strip().lower()

    def wait_seconds(self, user: str, address: str, now: float) -> float:
        """0 when an attempt may be checked now, else the seconds left to wait."""
        return max(self._users.wait(self.user_key(user), now),
                   self._addresses.wait(address, now))

    def failed(self, user: str, address: str, now: float) -> None:
        self._users.fail(self.user_key(user), now)
        self._addresses.fail(address, now)

    def succeeded(self, user: str) -> None:
        """A right password clears the user's count, not the address's: signing in to
        one's own account must not reset the count of guesses at someone else's."""
        self._users.forget(self.user_key(user))
