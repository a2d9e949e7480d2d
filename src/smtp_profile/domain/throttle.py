"""Slowing down password guessing and test floods: counted failures and hits per key.

Failed sign-ins are counted per user and per client address. A few failures are free
(people mistype); after that each further failure doubles a waiting time during which
every sign-in for that user or from that address is refused without checking the
password, so guessing gains nothing by hammering. The wait for a user is capped lower
than the wait for an address: a stranger can delay the real admin by a minute at worst,
while one address guessing many users is held back much longer.

Tests (Test and Diagnose) are counted per user in one-minute windows.

Pure logic: time comes in as `now` (seconds since the epoch, so several instances
agree), the counts live in the database (`store/throttle.py`), shared by all instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FREE_FAILURES = 5
FIRST_WAIT_SECONDS = 1.0
MAX_USER_WAIT_SECONDS = 60.0
MAX_ADDRESS_WAIT_SECONDS = 900.0
FORGET_AFTER_SECONDS = 3600.0
TEST_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Counted:
    """How many times a key was counted, and when last (epoch seconds)."""

    count: int
    last: float


def user_key(name: str) -> str:
    return "signin-user:" + name.strip().lower()


def address_key(address: str) -> str:
    return "signin-address:" + address


def failure_wait(record: Counted | None, now: float, max_wait: float) -> float:
    """Seconds a sign-in must still wait after `record.count` failures, 0 if none."""
    if record is None or now - record.last > FORGET_AFTER_SECONDS:
        return 0.0
    excess = record.count - FREE_FAILURES
    if excess <= 0:
        return 0.0
    delay = min(max_wait, FIRST_WAIT_SECONDS * float(2 ** min(excess - 1, 30)))
    return max(0.0, record.last + delay - now)


def sign_in_wait(user: Counted | None, address: Counted | None, now: float, *,
                 max_user_wait: float = MAX_USER_WAIT_SECONDS,
                 max_address_wait: float = MAX_ADDRESS_WAIT_SECONDS) -> float:
    return max(failure_wait(user, now, max_user_wait),
               failure_wait(address, now, max_address_wait))


def rate_window_key(user: str, now: float) -> str:
    return f"tests:{user.strip().lower()}:{int(now // TEST_WINDOW_SECONDS)}"


def rate_retry_after(count: int, limit: int, now: float) -> int | None:
    """None while `count` tests in this window are within `limit`; else seconds to wait."""
    if limit <= 0 or count <= limit:
        return None
    return max(1, math.ceil(TEST_WINDOW_SECONDS - now % TEST_WINDOW_SECONDS))
