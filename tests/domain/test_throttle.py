"""The sign-in throttle: free mistakes, then doubling waits, per user and per address."""

from __future__ import annotations

from smtp_profile.domain.throttle import (
    FORGET_AFTER_SECONDS,
    FREE_FAILURES,
    SignInThrottle,
)


def fail_times(throttle: SignInThrottle, user: str, address: str, count: int,
               now: float = 0.0) -> None:
    for _ in range(count):
        throttle.failed(user, address, now)


def test_the_first_failures_cost_nothing() -> None:
    throttle = SignInThrottle()
    fail_times(throttle, "alice", "10.0.0.1", FREE_FAILURES)
    assert throttle.wait_seconds("alice", "10.0.0.1", 0.0) == 0.0


def test_each_further_failure_doubles_the_wait_up_to_the_user_cap() -> None:
    throttle = SignInThrottle(max_user_wait=60.0, max_address_wait=1000.0)
    fail_times(throttle, "alice", "a1", FREE_FAILURES)
    waits = []
    for _ in range(9):
        throttle.failed("alice", "a1", 0.0)
        waits.append(throttle.wait_seconds("alice", "other-address", 0.0))
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_the_wait_runs_out() -> None:
    throttle = SignInThrottle()
    fail_times(throttle, "alice", "a1", FREE_FAILURES + 3)  # wait 4 s from t=0
    assert throttle.wait_seconds("alice", "a1", 1.0) == 3.0
    assert throttle.wait_seconds("alice", "a1", 4.0) == 0.0


def test_user_names_compare_without_case_or_spaces() -> None:
    throttle = SignInThrottle()
    fail_times(throttle, "Alice", "a1", FREE_FAILURES + 1)
    assert throttle.wait_seconds(" alice ", "a2", 0.0) > 0


def test_one_address_guessing_many_users_is_held_back() -> None:
    throttle = SignInThrottle()
    for i in range(FREE_FAILURES + 1):
        throttle.failed(f"user{i}", "203.0.113.9", 0.0)
    assert throttle.wait_seconds("someone-new", "203.0.113.9", 0.0) == 1.0
    assert throttle.wait_seconds("someone-new", "198.51.100.1", 0.0) == 0.0


def test_the_address_wait_may_grow_past_the_user_cap() -> None:
    throttle = SignInThrottle(max_user_wait=60.0, max_address_wait=900.0)
    for i in range(FREE_FAILURES + 12):
        throttle.failed(f"user{i}", "203.0.113.9", 0.0)
    assert throttle.wait_seconds("x", "203.0.113.9", 0.0) == 900.0


def test_success_clears_the_user_but_not_the_address() -> None:
    throttle = SignInThrottle()
    fail_times(throttle, "alice", "a1", FREE_FAILURES + 1)
    throttle.succeeded("alice")
    assert throttle.wait_seconds("alice", "a2", 0.0) == 0.0
    assert throttle.wait_seconds("bob", "a1", 0.0) == 1.0


def test_quiet_keys_are_forgotten() -> None:
    throttle = SignInThrottle()
    fail_times(throttle, "alice", "a1", FREE_FAILURES)
    later = FORGET_AFTER_SECONDS + 1
    throttle.failed("alice", "a1", later)
    assert throttle.wait_seconds("alice", "a1", later) == 0.0


def test_memory_is_bounded() -> None:
    throttle = SignInThrottle(max_keys=3)
    for i in range(10):
        fail_times(throttle, f"user{i}", f"addr{i}", FREE_FAILURES + 1)
    assert throttle.wait_seconds("user0", "addr0", 0.0) == 0.0
    assert throttle.wait_seconds("user9", "addr9", 0.0) == 1.0
