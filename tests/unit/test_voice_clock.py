"""Clocks: the virtual clock wakes sleepers exactly; the real one is monotonic."""

from __future__ import annotations

import asyncio
import itertools

from voice.clock import RealClock, VirtualClock


async def test_virtual_clock_now_moves_only_through_advance() -> None:
    clock = VirtualClock(start=10.0)
    assert clock.now() == 10.0
    await asyncio.sleep(0)
    assert clock.now() == 10.0
    await clock.advance(0.25)
    assert clock.now() == 10.25
    await clock.advance(1.0)
    assert clock.now() == 11.25


async def test_sleepers_wake_in_deadline_order_at_their_deadline() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper("c", 0.3)),
        asyncio.create_task(sleeper("a", 0.1)),
        asyncio.create_task(sleeper("b", 0.2)),
    ]
    await clock.advance(1.0)
    assert woke == [("a", 0.1), ("b", 0.2), ("c", 0.3)]
    assert clock.now() == 1.0
    await asyncio.gather(*tasks)


async def test_sleepers_do_not_wake_before_their_deadline() -> None:
    clock = VirtualClock()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(0.5)
        woke.append(clock.now())

    task = asyncio.create_task(sleeper())
    await clock.advance(0.2)
    assert woke == []
    await clock.advance(0.299)
    assert woke == []
    assert not task.done()
    await clock.advance(0.001)
    assert woke == [0.5]
    await task


async def test_sleepers_with_equal_deadlines_wake_in_the_order_they_slept() -> None:
    clock = VirtualClock()
    woke: list[int] = []

    async def sleeper(i: int) -> None:
        await clock.sleep(0.1)
        woke.append(i)

    tasks = [asyncio.create_task(sleeper(i)) for i in range(5)]
    await clock.advance(0.1)
    assert woke == [0, 1, 2, 3, 4]
    await asyncio.gather(*tasks)


async def test_a_sleep_started_during_advance_wakes_within_the_same_advance() -> None:
    clock = VirtualClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(0.1)
            ticks.append(round(clock.now(), 9))

    task = asyncio.create_task(ticker())
    await clock.advance(0.35)
    assert ticks == [0.1, 0.2, 0.3]
    assert clock.now() == 0.35
    await task


async def test_sleep_deadlines_count_from_the_time_the_sleep_began() -> None:
    clock = VirtualClock()
    await clock.advance(1.0)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(0.5)
        woke.append(clock.now())

    task = asyncio.create_task(sleeper())
    await clock.advance(0.4)
    assert woke == []
    await clock.advance(0.1)
    assert woke == [1.5]
    await task


async def test_zero_or_negative_sleep_returns_without_time_passing() -> None:
    clock = VirtualClock(start=3.0)
    await clock.sleep(0)
    await clock.sleep(-1.0)
    assert clock.now() == 3.0


async def test_cancelled_sleeper_does_not_break_advance() -> None:
    clock = VirtualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    doomed = asyncio.create_task(sleeper("doomed", 0.1))
    kept = asyncio.create_task(sleeper("kept", 0.2))
    await clock.settle()
    doomed.cancel()
    await clock.advance(0.5)
    assert woke == ["kept"]
    assert doomed.cancelled()
    await kept


async def test_settle_runs_tasks_that_need_no_time() -> None:
    clock = VirtualClock()
    steps: list[int] = []

    async def worker() -> None:
        for i in range(10):
            steps.append(i)
            await asyncio.sleep(0)

    task = asyncio.create_task(worker())
    await clock.settle()
    assert steps == list(range(10))
    assert task.done()


def test_real_clock_now_is_monotonic() -> None:
    clock = RealClock()
    readings = [clock.now() for _ in range(1000)]
    assert all(b >= a for a, b in itertools.pairwise(readings))


async def test_real_clock_sleep_zero_returns() -> None:
    await RealClock().sleep(0)
