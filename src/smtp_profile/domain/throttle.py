"""Slowing down password guessing and test floods: the limits and their arithmetic.

Every sign-in whose password must be checked is first counted, atomically, in the
database (`store/throttle.py`), and only an attempt the count lets through has its
password checked: concurrent guesses cannot all slip in between a read and a write.
Three counters judge an attempt (NIST SP 800-63B 5.2.2, OWASP ASVS v4 2.2.1):

- per user and address (`PAIR`): the budget of one user from one address. A few
  attempts are free (people mistype); then each further one waits twice as long.
- per address (`ADDRESS`): one address guessing at many users is held back too.
- per account (`ACCOUNT`): consecutive failures from anywhere. A short delay once
  many strangers fail, and after `HARD_LIMIT` consecutive failures the account is
  closed to every address it has never signed in from, until a right password, an
  operator's `smtp-profile user unlock`, or `LOCK_SECONDS`. The account counter never
  judges an address the user signed in from before: there only that address's own
  counters apply, so a stranger elsewhere cannot keep the user out.

A right password clears the user's counters (consecutive failures end) and takes back
its own count from the address (it was no failure). Counts are forgotten after a quiet
hour. Pure logic: time comes in as `now` (seconds since the epoch, so instances agree).

Tests (Test and Diagnose) are counted per user in one-minute windows.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

TEST_WINDOW_SECONDS = 60
FORGET_AFTER_SECONDS = 3600.0
LOCK_SECONDS = 86400.0
HARD_LIMIT = 100
FIRST_WAIT_SECONDS = 1.0
KNOWN_ADDRESS_DAYS = 90
_MAX_NAME_IN_KEY = 128


@dataclass(frozen=True)
class Limit:
    """A counter's rule: `free` attempts cost nothing; from the `free`-th on each one
    makes the next wait FIRST_WAIT_SECONDS, doubling up to `max_wait`; from `hard` on
    (if set) the wait is LOCK_SECONDS."""

    free: int
    max_wait: float
    hard: int | None = None

    def wait_after(self, count: int) -> float:
        """Seconds the next attempt must wait after the `count`-th counted one."""
        if self.hard is not None and count >= self.hard:
            return LOCK_SECONDS
        if count < self.free:
            return 0.0
        return min(self.max_wait, FIRST_WAIT_SECONDS * float(2 ** min(count - self.free, 30)))


PAIR = Limit(free=5, max_wait=900.0, hard=HARD_LIMIT)
ADDRESS = Limit(free=10, max_wait=900.0)
ACCOUNT = Limit(free=10, max_wait=30.0, hard=HARD_LIMIT)

FREE_FAILURES = PAIR.free
"""Wrong passwords one user may send from one address before any wait."""


@dataclass(frozen=True)
class Counted:
    """A counter: attempts counted, when last (epoch seconds), blocked until when."""

    count: int
    last: float
    blocked_until: float | None = None

    def wait(self, now: float) -> float:
        if self.blocked_until is None:
            return 0.0
        return max(0.0, self.blocked_until - now)


@dataclass(frozen=True)
class Judged:
    """A counter an attempt is counted on; `binding` False: counted but not judged."""

    key: str
    limit: Limit
    binding: bool = True


def _name(name: str) -> str:
    """A user name as keys hold it: case-folded, long ones (never a user) as a hash."""
    folded = name.strip().lower()
    if len(folded) <= _MAX_NAME_IN_KEY:
        return folded
    return "#" + hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()


def user_key(name: str) -> str:
    return "signin-user:" + _name(name)


def address_key(address: str) -> str:
    return "signin-address:" + address[:64]


def pair_prefix(name: str) -> str:
    """Every user-and-address key of `name` starts so (for an operator's unlock)."""
    return "signin-pair:" + _name(name) + "|"


def pair_key(name: str, address: str) -> str:
    return pair_prefix(name) + address[:64]


def sign_in_counters(name: str, address: str, *, known: bool) -> tuple[Judged, ...]:
    """The counters an attempt by `name` from `address` is counted on, in lock order.

    `known`: the user has signed in from this address before; the account counter
    then still counts the failure but does not hold this address back."""
    counters = (Judged(pair_key(name, address), PAIR),
                Judged(address_key(address), ADDRESS),
                Judged(user_key(name), ACCOUNT, binding=not known))
    return tuple(sorted(counters, key=lambda c: c.key))


def sign_in_wait(counters: tuple[Judged, ...], counted: Mapping[str, Counted],
                 now: float) -> float:
    """Seconds an attempt must wait before it may even be counted; 0 if none."""
    waits = [counted[c.key].wait(now) for c in counters if c.binding and c.key in counted]
    return max(waits, default=0.0)


def rate_window_key(user: str, now: float) -> str:
    return f"tests:{user.strip().lower()}:{int(now // TEST_WINDOW_SECONDS)}"


def rate_retry_after(count: int, limit: int, now: float) -> int | None:
    """None while `count` tests in this window are within `limit`; else seconds to wait."""
    if limit <= 0 or count <= limit:
        return None
    return max(1, math.ceil(TEST_WINDOW_SECONDS - now % TEST_WINDOW_SECONDS))
