"""SQLite's commit counter read at most once per turn of the event loop
(store/snapshot.py `TurnReading`), and never reused by a step queued after it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from smtp_profile.store.snapshot import TurnReading


def counting_reader() -> tuple[Callable[[], int], list[int]]:
    """A counter that moves at every reading, and the readings taken."""
    values = itertools.count(1)
    readings: list[int] = []

    def read() -> int:
        readings.append(next(values))
        return readings[-1]

    return read, readings


def test_steps_of_one_turn_share_one_reading() -> None:
    read, readings = counting_reader()
    turn = TurnReading(read)

    async def main() -> list[int]:
        seen = [turn() for _ in range(5)]  # one step
        await asyncio.sleep(0)  # the next turn: a reading of its own
        seen += [turn(), turn()]
        return seen

    assert asyncio.run(main()) == [1, 1, 1, 1, 1, 2, 2]
    assert readings == [1, 2]


def test_a_step_queued_after_the_reading_takes_its_own() -> None:
    """What arrives after a reading (a request read later, a commit's completion) runs
    after the callback that forgets it."""
    read, readings = counting_reader()
    turn = TurnReading(read)

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        loop.call_soon(lambda: seen.append(turn()))  # queued before the reading
        await asyncio.sleep(0)
        seen.append(turn())  # same turn as the first: shared
        loop.call_soon(lambda: seen.append(turn()))  # queued after it
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(main()) == [1, 1, 2]
    assert readings == [1, 2]


def test_off_the_loop_every_call_reads() -> None:
    read, readings = counting_reader()
    turn = TurnReading(read)
    assert [turn(), turn()] == [1, 2]

    async def main() -> int:  # a reading on a loop ...
        return turn()

    assert asyncio.run(main()) == 3
    assert turn() == 4  # ... is never reused off it, nor by another loop
    assert asyncio.run(main()) == 5
    assert readings == [1, 2, 3, 4, 5]
