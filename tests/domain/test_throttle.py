"""The throttle's arithmetic: free attempts, then doubling waits, a hard limit per
account that never judges a known address; tests per minute."""

from __future__ import annotations

from smtp_profile.domain.throttle import (
    ACCOUNT,
    ADDRESS,
    HARD_LIMIT,
    LOCK_SECONDS,
    PAIR,
    Counted,
    address_key,
    pair_key,
    rate_retry_after,
    rate_window_key,
    sign_in_counters,
    sign_in_wait,
    user_key,
)

T0 = 1_800_000_000.0


def test_the_first_attempts_cost_nothing() -> None:
    assert [PAIR.wait_after(n) for n in range(1, PAIR.free)] == [0.0] * (PAIR.free - 1)


def test_each_further_attempt_doubles_the_wait_up_to_the_cap() -> None:
    waits = [ACCOUNT.wait_after(ACCOUNT.free + n) for n in range(8)]
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert PAIR.wait_after(PAIR.free + 20) == PAIR.max_wait == 900


def test_at_most_a_hundred_consecutive_failures_per_account_and_pair() -> None:
    assert ACCOUNT.hard == PAIR.hard == HARD_LIMIT == 100
    assert ACCOUNT.wait_after(HARD_LIMIT - 1) == 30
    assert ACCOUNT.wait_after(HARD_LIMIT) == LOCK_SECONDS
    assert ADDRESS.hard is None


def test_a_known_address_is_not_judged_by_the_account_counter() -> None:
    locked = {user_key("admin"): Counted(HARD_LIMIT, T0, T0 + LOCK_SECONDS)}
    stranger = sign_in_counters("admin", "192.0.2.9", known=False)
    own = sign_in_counters("Admin", "192.0.2.1", known=True)
    assert sign_in_wait(stranger, locked, T0) == LOCK_SECONDS
    assert sign_in_wait(own, locked, T0) == 0.0
    assert user_key("admin") in [c.key for c in own]  # still counted there


def test_the_longest_wait_of_the_binding_counters_counts() -> None:
    counters = sign_in_counters("bob", "192.0.2.1", known=True)
    counted = {pair_key("bob", "192.0.2.1"): Counted(6, T0, T0 + 2),
               address_key("192.0.2.1"): Counted(12, T0, T0 + 5)}
    assert sign_in_wait(counters, counted, T0 + 1) == 4.0
    assert sign_in_wait(counters, counted, T0 + 5) == 0.0


def test_counters_are_locked_in_one_order() -> None:
    keys = [c.key for c in sign_in_counters("zed", "::1", known=False)]
    assert keys == sorted(keys)


def test_keys() -> None:
    assert user_key(" Alice ") == user_key("alice") != address_key("alice")
    assert pair_key("Alice", "::1") == pair_key("alice ", "::1") != pair_key("alice", "::2")
    assert len(user_key("x" * 300)) < 200 and len(pair_key("x" * 300, "f" * 300)) < 200
    assert rate_window_key("Bob", T0) == rate_window_key("bob", T0 + 0.5)
    assert rate_window_key("bob", T0) != rate_window_key("bob", T0 + 60)


def test_tests_per_minute() -> None:
    minute = T0 - T0 % 60
    assert rate_retry_after(30, 30, minute + 10) is None
    assert rate_retry_after(31, 30, minute + 10) == 50
    assert rate_retry_after(31, 30, minute + 59.5) == 1
    assert rate_retry_after(10**6, 0, minute) is None  # 0 means no limit
