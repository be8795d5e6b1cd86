"""The cooperative budget (tokio's ``coop``): fast when ready, fair under load.

An operation that completes without waiting calls
`runtime.lowlevel.checkpoint_if_cancelled`: no trip through the scheduler,
until the task has done `BUDGET` (128) of them in one step; then it yields.
The ready operation these tests use is a real one: a byte sent and received
on a non-blocking socketpair, which never blocks.
"""

from __future__ import annotations

import socket

import pytest

import runtime
import runtime.executor.runner as runner_module
from runtime.executor.runner import BUDGET
from runtime.lowlevel import checkpoint_if_cancelled
from runtime.testing import MockClock
from tests.helpers import socket_pair

OPERATIONS = 10_000


async def ready_operations(n: int, a: socket.socket, b: socket.socket) -> None:
    for _ in range(n):
        a.send(b"x")
        b.recv(1)
        await checkpoint_if_cancelled()


#: Where the busy task moves the virtual clock past the sleeper's deadline.
JUMP_AT = 1_000


def operations_after_the_deadline(a: socket.socket, b: socket.socket) -> int:
    """A 1 ms sleeper beside a busy task, on a virtual clock that the busy task
    moves 2 ms forward before its operation `JUMP_AT`: how many operations the
    busy task did past that point before the sleeper woke.

    Counted in operations, not measured in seconds, so a loaded machine (or
    Wine's slow socket calls) cannot change the answer.
    """
    clock = MockClock()
    done = [0]

    async def busy() -> None:
        for i in range(OPERATIONS):
            if i == JUMP_AT:
                clock.jump(0.002)  # the sleeper's timer is due from here on
            a.send(b"x")
            b.recv(1)
            done[0] = i + 1
            await checkpoint_if_cancelled()

    async def sleeper(woke: list[int]) -> None:
        await runtime.sleep(0.001)
        woke.append(done[0])

    async def main() -> int:
        woke: list[int] = []
        async with runtime.TaskGroup() as tg:
            tg.spawn(sleeper(woke))
            await runtime.checkpoint()  # let the sleeper arm its timer first
            await busy()
        return woke[0] - JUMP_AT

    return runtime.run(main(), clock=clock)


def test_a_busy_task_lets_a_due_timer_fire_within_two_budgets_of_operations() -> None:
    with socket_pair() as (a, b):
        late = operations_after_the_deadline(a, b)
    # The busy task yields after at most BUDGET ready operations in one step;
    # the turn after that finds the timer due and queues the sleeper behind
    # the busy task, which runs one more budget first: two budgets at most.
    assert 0 <= late <= 2 * BUDGET, late


def test_without_the_budget_the_same_timer_would_starve(monkeypatch: pytest.MonkeyPatch) -> None:
    # The control experiment: it shows the test above measures the budget.
    monkeypatch.setattr(runner_module, "BUDGET", 10**9)
    with socket_pair() as (a, b):
        late = operations_after_the_deadline(a, b)
    assert late == OPERATIONS - JUMP_AT


def test_ready_operations_within_the_budget_do_not_yield() -> None:
    trace: list[str] = []

    async def other() -> None:
        trace.append("other ran")

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            tg.spawn(other())
            for _ in range(BUDGET - 1):
                await checkpoint_if_cancelled()
            trace.append(f"{BUDGET - 1} ready operations without a yield")
            await checkpoint_if_cancelled()  # the budget is spent: this one yields
            trace.append("after the yield")

    runtime.run(main())
    assert trace == [
        f"{BUDGET - 1} ready operations without a yield",
        "other ran",
        "after the yield",
    ]


def test_the_budget_is_renewed_at_every_step() -> None:
    yields = 0

    async def counter(stop: list[bool]) -> None:
        nonlocal yields
        while not stop:
            yields += 1
            await runtime.yield_now()

    async def main() -> None:
        stop: list[bool] = []
        async with runtime.TaskGroup() as tg:
            tg.spawn(counter(stop))
            await runtime.checkpoint()
            before = yields
            for _ in range(BUDGET * 10):
                await checkpoint_if_cancelled()
            stop.append(True)
            assert yields - before == 10  # one yield per 128 operations, no more

    runtime.run(main())


def test_a_ready_operation_in_a_cancelled_scope_raises() -> None:
    async def main() -> tuple[str, bool]:
        with runtime.CancelScope() as scope:
            scope.cancel()
            try:
                await checkpoint_if_cancelled()
            except runtime.Cancelled:
                return "Cancelled", scope.cancel_called
        return "nothing", scope.cancel_called

    assert runtime.run(main()) == ("Cancelled", True)
