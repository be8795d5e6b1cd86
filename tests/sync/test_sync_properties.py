"""Property test: random acquire/release/cancel programs on a Semaphore or Lock.

The model is a FIFO queue and a permit count: ``release`` hands the permit
to the first waiter still queued, else returns it to the pool; a cancelled
waiter leaves the queue at once (no settle after the cancel, so it is still
queued in the runtime when the next operation runs). The same program runs
under `runtime` and trio; the order in which tasks got their permit, the
``try_acquire`` results and the final count must match the model.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.platform_gaps import needs_trio
from tests.helpers.sidebyside_sync import SyncFramework, SyncRuntime, SyncTrio


def expected(permits: int, program: list[tuple[str, int]]) -> list[Any]:
    value = permits
    queue: list[int] = []
    holders: list[int] = []  # tasks holding a permit, in the order they got it
    log: list[Any] = []
    cancelled: list[int] = []
    tasks = 0
    for op, arg in program:
        if op == "acquire":
            if value and not queue:
                value -= 1
                holders.append(tasks)
                log.append(("got", tasks))
            else:
                queue.append(tasks)
            tasks += 1
        elif op == "release" and holders:
            holders.pop(arg % len(holders))
            if queue:
                task = queue.pop(0)
                holders.append(task)
                log.append(("got", task))
            else:
                value += 1
        elif op == "cancel" and tasks:
            task = tasks - 1 - arg % tasks
            if task in queue:
                queue.remove(task)
                cancelled.append(task)
        elif op == "try_acquire":
            log.append(("try", value > 0 and not queue))
            if value > 0 and not queue:
                value -= 1
                holders.append(-1)  # main holds it; a later release may pick it
    log.append(("value", value))
    log.append(("cancelled", sorted(cancelled)))
    return log


def observed(fw: SyncFramework, permits: int, program: list[tuple[str, int]]) -> list[Any]:
    log: list[Any] = []
    cancelled: list[int] = []

    async def main() -> None:
        sem = fw.Semaphore(permits)
        handles: list[Any] = []
        holders: list[int] = []

        async def task(i: int) -> None:
            try:
                await sem.acquire()
            except fw.Cancelled:
                cancelled.append(i)
                raise
            log.append(("got", i))
            holders.append(i)

        for op, arg in program:
            if op == "acquire":
                handles.append(fw.spawn(task, len(handles)))
                await fw.settle()
            elif op == "release" and holders:
                holders.pop(arg % len(holders))
                sem.release()  # any task may release a semaphore
                await fw.settle()
            elif op == "cancel" and handles:
                handles[-1 - arg % len(handles)].cancel()  # no settle: still queued
            elif op == "try_acquire":
                try:
                    fw.try_acquire(sem)
                except fw.WouldBlock:
                    log.append(("try", False))
                else:
                    log.append(("try", True))
                    holders.append(-1)
        await fw.settle()
        log.append(("value", sem.value))
        log.append(("cancelled", sorted(cancelled)))
        for h in handles:  # what is still queued now is not part of the program
            h.cancel()

    fw.run(main)
    return log


programs = st.lists(
    st.tuples(st.sampled_from(["acquire"] * 3 + ["release"] * 3 + ["cancel"] * 2
                              + ["try_acquire"]),
              st.integers(0, 3)),
    max_size=30,
)


@pytest.mark.parametrize("framework", [
    pytest.param(SyncRuntime, id="runtime"), pytest.param(SyncTrio, id="trio", marks=needs_trio)])
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(permits=st.integers(1, 3), program=programs)
def test_semaphore_behaves_like_the_fifo_model(framework: type[SyncFramework], permits: int,
                                               program: list[tuple[str, int]]) -> None:
    assert observed(framework(), permits, program) == expected(permits, program)
