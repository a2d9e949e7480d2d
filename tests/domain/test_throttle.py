"""The throttle's arithmetic: free mistakes, then doubling waits; tests per minute."""

from __future__ import annotations

from smtp_profile.domain.throttle import (
    FORGET_AFTER_SECONDS,
    FREE_FAILURES,
    Counted,
    address_key,
    failure_wait,
    rate_retry_after,
    rate_window_key,
    sign_in_wait,
    user_key,
)

T0 = 1_800_000_000.0


def test_the_first_failures_cost_nothing() -> None:
    assert failure_wait(Counted(FREE_FAILURES, T0), T0, 60) == 0.0
    assert failure_wait(None, T0, 60) == 0.0


def test_each_further_failure_doubles_the_wait_up_to_the_cap() -> None:
    waits = [failure_wait(Counted(FREE_FAILURES + n, T0), T0, 60.0) for n in range(1, 10)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_the_wait_runs_out() -> None:
    counted = Counted(FREE_FAILURES + 3, T0)  # wait 4 s from T0
    assert failure_wait(counted, T0 + 1, 60) == 3.0
    assert failure_wait(counted, T0 + 4, 60) == 0.0


def test_a_quiet_hour_forgets() -> None:
    counted = Counted(FREE_FAILURES + 30, T0)
    assert failure_wait(counted, T0 + FORGET_AFTER_SECONDS + 1, 10**9) == 0.0


def test_user_and_address_each_count_and_the_address_may_wait_longer() -> None:
    many = Counted(FREE_FAILURES + 12, T0)
    assert sign_in_wait(many, None, T0) == 60.0
    assert sign_in_wait(None, many, T0) == 900.0
    assert sign_in_wait(None, None, T0) == 0.0


def test_keys() -> None:
    assert user_key(" Alice ") == user_key("alice") != address_key("alice")
    assert rate_window_key("Bob", T0) == rate_window_key("bob", T0 + 0.5)
    assert rate_window_key("bob", T0) != rate_window_key("bob", T0 + 60)


def test_tests_per_minute() -> None:
    minute = T0 - T0 % 60
    assert rate_retry_after(30, 30, minute + 10) is None
    assert rate_retry_after(31, 30, minute + 10) == 50
    assert rate_retry_after(31, 30, minute + 59.5) == 1
    assert rate_retry_after(10**6, 0, minute) is None  # 0 means no limit
