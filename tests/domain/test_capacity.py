"""The bound on tests running at once: slots, their release, and the Retry-After promise."""

from __future__ import annotations

from smtp_profile.domain.capacity import Capacity


def test_slots_run_out_and_come_back() -> None:
    capacity = Capacity(limit=2, longest=50.0)
    first, second = capacity.acquire(now=100.0), capacity.acquire(now=110.0)
    assert first is not None and second is not None
    assert capacity.acquire(now=120.0) is None
    first.release()
    first.release()  # a second release changes nothing
    assert len(capacity.running) == 1
    third = capacity.acquire(now=130.0)
    assert third is not None
    assert capacity.acquire(now=130.0) is None


def test_retry_after_counts_to_the_oldest_tests_end() -> None:
    capacity = Capacity(limit=2, longest=50.0)
    capacity.acquire(now=100.0)
    capacity.acquire(now=120.0)
    assert capacity.retry_after(now=110.0) == 40   # the first must end by 150
    assert capacity.retry_after(now=149.5) == 1
    assert capacity.retry_after(now=400.0) == 1    # overdue: at least one second
    assert capacity.retry_after(now=0.0) == 50     # never more than the longest test
    assert Capacity(limit=1, longest=50.0).retry_after(now=0.0) == 1
