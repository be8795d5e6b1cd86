"""After a run full of cancellations, nothing is left: no task, no coroutine, no scope.

The fd and thread half of "no leaks" is the suite's autouse fixture
(``tests/conftest.py``); this file checks the objects: once `runtime.run`
has returned and the garbage collector has run, no `Task` is alive and no
coroutine of the program is left suspended (each one either returned or was
unwound through its ``finally``).
"""

from __future__ import annotations

import gc
import inspect
from typing import Any

import pytest

import runtime
from runtime.executor.cancel import CancelScope
from runtime.executor.task import Task


async def busy_program(finallies: list[str]) -> None:
    async def sleeper(name: str) -> None:
        try:
            await runtime.sleep(10)
        finally:
            finallies.append(name)

    async def fails(name: str) -> None:
        try:
            await runtime.sleep(0.01)
            raise ValueError(name)
        finally:
            finallies.append(name)

    async def service(task_status: Any) -> None:
        try:
            task_status.started()
            await runtime.sleep(10)
        finally:
            finallies.append("service")

    async def broken_start(task_status: Any) -> None:
        try:
            raise KeyError("before started")
        finally:
            finallies.append("broken start")

    # A group whose child fails, with a sibling and a started service.
    try:
        async with runtime.TaskGroup() as tg:
            tg.spawn(sleeper("group sleeper"))
            await tg.start(service)
            with pytest.raises(KeyError):
                await tg.start(broken_start)
            tg.spawn(fails("group failure"))
    except ExceptionGroup:
        pass
    # Deadlines around a sleep and around a nested group.
    with runtime.move_on_after(0.01):
        await runtime.sleep(10)
    with runtime.move_on_after(0.01):
        async with runtime.TaskGroup() as tg:
            tg.spawn(sleeper("nested sleeper"))
    # Aborted and detached tasks; the detached one is cancelled when main ends.
    aborted = runtime.spawn(sleeper("aborted"))
    runtime.spawn(sleeper("detached"))
    await runtime.sleep(0.01)
    aborted.abort()
    with pytest.raises(runtime.Cancelled):
        await aborted


def test_nothing_survives_a_run_full_of_cancellations() -> None:
    finallies: list[str] = []
    gc.collect()
    tasks_before = sum(isinstance(o, Task) for o in gc.get_objects())

    runtime.run(busy_program(finallies))

    assert sorted(finallies) == sorted([
        "group sleeper", "service", "broken start", "group failure",
        "nested sleeper", "aborted", "detached",
    ])
    gc.collect()
    objects = gc.get_objects()
    tasks = [o for o in objects if isinstance(o, Task)]
    assert len(tasks) == tasks_before, tasks
    suspended = [
        o for o in objects
        if inspect.iscoroutine(o) and inspect.getcoroutinestate(o) == inspect.CORO_SUSPENDED
        and o.cr_code.co_filename == __file__
    ]
    assert suspended == []
    entered = [o for o in objects if isinstance(o, CancelScope) and o._tasks]
    assert entered == []
