"""runtime.sync details the side-by-side scenarios don't cover.

Error messages, the cooperative budget on the ready path, spurious wakes,
and the give-back paths of a waiter that is served and then sees an
exception (reached here by stepping an ``acquire()`` coroutine by hand).
"""

from __future__ import annotations

from typing import Any

import pytest

import runtime
from runtime import Cancelled, WouldBlock
from runtime.lowlevel import current_task
from runtime.testing import wait_all_tasks_blocked


def test_release_by_non_owner_names_both_tasks() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        await lock.acquire()

        async def intruder() -> None:
            lock.release()

        with pytest.raises(RuntimeError, match=r"'intruder'.*held by task 'main'"):
            await runtime.spawn(intruder(), name="intruder")
        lock.release()
        with pytest.raises(RuntimeError, match="held by nobody"):
            lock.release()

    runtime.run(main())


def test_ready_acquire_spends_budget_instead_of_yielding() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        sem = runtime.Semaphore(1)
        ran = []
        runtime.spawn(_append(ran))
        await runtime.yield_now()  # a fresh budget for this step
        ran.clear()
        for _ in range(50):  # 100 ready operations: under tokio's 128
            async with lock:
                pass
            async with sem:
                pass
        assert ran == []
        runtime.spawn(_append(ran))
        for _ in range(100):
            async with lock:
                pass
        assert ran == ["ran"], "a spent budget must yield to the others"

    runtime.run(main())


async def _append(out: list[str]) -> None:
    out.append("ran")


def test_cancelled_task_does_not_take_a_free_lock() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        with runtime.CancelScope() as scope:
            scope.cancel()
            await lock.acquire()
        assert scope.cancelled_caught
        assert not lock.locked()

    runtime.run(main())


def test_spurious_wake_keeps_a_waiter_waiting() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        await lock.acquire()
        tasks: list[Any] = []

        async def waiter() -> str:
            tasks.append(current_task())
            async with lock:
                return "got it"

        handle = runtime.spawn(waiter())
        await runtime.sleep(0.001)
        for _ in range(3):
            tasks[0].waker.wake()  # a stale wake from nowhere
            await runtime.sleep(0.001)
        assert not handle.is_finished()
        lock.release()
        assert await handle == "got it"

    runtime.run(main())


def test_lock_handed_over_before_its_waiters_cancel_is_held_until_the_next_checkpoint() -> None:
    # The hand-off wins the race: the waiter's abort callback says it was
    # served, so it wakes holding the lock; the cancel comes at its next
    # checkpoint, and the lock is released by the async with on the way out.
    async def main() -> list[str]:
        lock = runtime.Lock()
        trace: list[str] = []
        scopes: list[runtime.CancelScope] = []

        async def waiter() -> None:
            with runtime.CancelScope() as scope:
                scopes.append(scope)
                async with lock:
                    trace.append(f"holds it: {lock._owner is current_task()}")
                    try:
                        await runtime.checkpoint()
                    except runtime.Cancelled:
                        trace.append("Cancelled at the next checkpoint")
                        raise

        await lock.acquire()
        async with runtime.TaskGroup() as tg:
            tg.spawn(waiter())
            await wait_all_tasks_blocked()
            lock.release()  # handed to the waiter, which is woken ...
            scopes[0].cancel()  # ... and cancelled before it runs
        trace.append(f"free after: {not lock.locked()}")
        return trace

    assert runtime.run(main()) == [
        "holds it: True", "Cancelled at the next checkpoint", "free after: True"]


def test_acquire_refuses_the_owner_and_a_waiter_cancelled_first_never_gets_the_lock() -> None:
    async def main() -> list[str]:
        lock = runtime.Lock()
        await lock.acquire()
        with pytest.raises(RuntimeError):  # re-acquire by the owner is refused
            await lock.acquire()
        order: list[str] = []

        async def take(name: str) -> None:
            async with lock:
                order.append(name)

        async with runtime.TaskGroup() as tg:
            first = tg.spawn(take("first"))
            await wait_all_tasks_blocked()
            tg.spawn(take("second"))
            await wait_all_tasks_blocked()
            first.abort()  # its abort callback takes it out of the queue at once
            lock.release()  # so the lock goes to the second
        return order

    assert runtime.run(main()) == ["second"]


def test_semaphore_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        runtime.Semaphore(-1)
    with pytest.raises(ValueError):
        runtime.Semaphore(3, max_value=2)
    sem = runtime.Semaphore(0, max_value=1)
    with pytest.raises(WouldBlock):
        sem.try_acquire()
    assert "0/1" in repr(sem)


def test_condition_needs_a_runtime_lock() -> None:
    with pytest.raises(TypeError):
        runtime.Condition(object())  # type: ignore[arg-type]
    cond = runtime.Condition()
    assert isinstance(cond.lock, runtime.Lock)


def test_condition_wait_for_a_predicate() -> None:
    async def main() -> list[int]:
        cond = runtime.Condition()
        items: list[int] = []
        taken: list[int] = []

        async def consumer() -> None:
            async with cond:
                while len(taken) < 5:
                    while not items:
                        await cond.wait()
                    taken.append(items.pop(0))

        handle = runtime.spawn(consumer())
        for i in range(5):
            await runtime.sleep(0.001)
            async with cond:
                items.append(i)
                cond.notify()
        await handle
        return taken

    assert runtime.run(main()) == [0, 1, 2, 3, 4]


def test_event_wait_is_a_cancellation_point_even_when_set() -> None:
    async def main() -> None:
        event = runtime.Event()
        event.set()
        with runtime.CancelScope() as scope:
            scope.cancel()
            await event.wait()
            pytest.fail("wait() on a set event must still raise Cancelled")
        assert scope.cancelled_caught

    runtime.run(main())


def test_reprs_say_the_state() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        assert "unlocked" in repr(lock)
        await lock.acquire()
        assert "held by 'main'" in repr(lock)
        event = runtime.Event()
        assert "unset" in repr(event)

    runtime.run(main())


def test_cancelled_is_not_swallowed_by_except_exception() -> None:
    async def main() -> str:
        lock = runtime.Lock()
        await lock.acquire()

        async def waiter() -> str:
            try:
                await lock.acquire()
            except Exception:
                return "swallowed"
            return "acquired"

        handle = runtime.spawn(waiter())
        await runtime.sleep(0.001)
        handle.abort()
        try:
            return await handle
        except Cancelled:
            return "cancelled"

    assert runtime.run(main()) == "cancelled"
