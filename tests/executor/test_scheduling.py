"""Fairness: `yield_now`, `checkpoint`, and the cooperative budget.

The budget (tokio's ``task/coop``: 128 ready operations a step) has two
halves, and each has a test: a ready `checkpoint_if_cancelled` does *not*
go through the scheduler (fast), and a task that only ever does ready
operations still lets a timer in another task fire within a few ms (fair).
"""

from __future__ import annotations

import statistics

import runtime
from runtime.executor.runner import BUDGET
from runtime.lowlevel import checkpoint_if_cancelled


def test_yield_now_makes_two_tasks_interleave() -> None:
    trace: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(4):
            trace.append(name)
            await runtime.yield_now()

    async def main() -> None:
        a = runtime.spawn(worker("a"))
        b = runtime.spawn(worker("b"))
        await a
        await b

    runtime.run(main())
    assert trace == ["a", "b"] * 4


def test_checkpoint_makes_three_tasks_round_robin() -> None:
    trace: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(3):
            trace.append(name)
            await runtime.checkpoint()

    async def main() -> None:
        handles = [runtime.spawn(worker(n)) for n in "xyz"]
        for h in handles:
            await h

    runtime.run(main())
    assert trace == list("xyz") * 3


def test_tasks_first_run_in_spawn_order() -> None:
    trace: list[int] = []

    async def worker(i: int) -> None:
        trace.append(i)

    async def main() -> None:
        for i in range(50):
            runtime.spawn(worker(i))
        await runtime.sleep(0.001)

    runtime.run(main())
    assert trace == list(range(50))


def test_ready_checkpoints_do_not_yield_until_the_budget_is_spent() -> None:
    # While `spinner` does ready checkpoints, `ticker` counts its own turns:
    # the spinner must get through ~BUDGET checks per ticker turn, not one.
    checks_per_turn: list[int] = []

    async def main() -> None:
        checks = 0
        stop = False

        async def spinner() -> None:
            nonlocal checks
            while not stop:
                await checkpoint_if_cancelled()
                checks += 1

        async def ticker() -> None:
            nonlocal stop
            last = 0
            for _ in range(20):
                await runtime.yield_now()
                checks_per_turn.append(checks - last)
                last = checks
            stop = True

        s = runtime.spawn(spinner())
        t = runtime.spawn(ticker())
        await t
        await s

    runtime.run(main())
    steady = checks_per_turn[2:]
    assert min(steady) >= BUDGET // 2, checks_per_turn
    assert max(steady) <= BUDGET, checks_per_turn


def _timer_lateness_under_a_spinning_task() -> float:
    async def main() -> float:
        fired = False

        async def spinner() -> None:
            while not fired:
                await checkpoint_if_cancelled()  # always ready: never parks

        async def timer() -> float:
            nonlocal fired
            start = runtime.current_time()
            await runtime.sleep(0.001)
            fired = True
            return runtime.current_time() - start

        s = runtime.spawn(spinner())
        t = runtime.spawn(timer())
        elapsed = await t
        await s
        return elapsed

    return runtime.run(main())  # type: ignore[no-any-return]


def test_a_task_doing_only_ready_operations_cannot_starve_a_timer() -> None:
    # Without the budget the spinner never yields and this hangs; with it,
    # the 1 ms timer fires after at most one budget's worth of spinning.
    # Median of five, to ride out a CI hiccup; each run is bounded anyway.
    samples = [_timer_lateness_under_a_spinning_task() for _ in range(5)]
    assert min(samples) >= 0.001
    assert statistics.median(samples) < 0.010, samples
    assert max(samples) < 0.5, samples


def test_checkpoint_if_cancelled_raises_when_aborted() -> None:
    async def spinner() -> None:
        while True:
            await checkpoint_if_cancelled()

    async def main() -> None:
        handle = runtime.spawn(spinner())
        await runtime.sleep(0.001)
        handle.abort()
        try:
            await handle
        except runtime.Cancelled:
            return
        raise AssertionError("spinner was not cancelled")

    runtime.run(main())
