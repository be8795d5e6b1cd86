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
from runtime.executor.traps import PARK
from runtime.lowlevel import current_task


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


def test_lock_served_then_interrupted_passes_the_lock_on() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        await lock.acquire()
        acquire = lock.acquire()
        with pytest.raises(RuntimeError):  # re-acquire by the owner is refused
            acquire.send(None)

        holder_done = runtime.Event()

        async def holder() -> None:
            async with lock:
                await holder_done.wait()

        lock.release()
        runtime.spawn(holder())
        await runtime.sleep(0.001)  # holder owns it now
        coro = lock.acquire()  # stepped by hand: it parks behind holder
        assert coro.send(None) is PARK
        second = runtime.spawn(_take_and_release(lock))
        await runtime.sleep(0.001)
        holder_done.set()
        await runtime.sleep(0.001)  # holder released: handed to our coroutine
        assert lock._owner is current_task()
        with pytest.raises(ValueError):
            coro.throw(ValueError("interrupted after being served"))
        await second  # the lock went on to the next waiter
        assert not lock.locked()

    runtime.run(main())


async def _take_and_release(lock: runtime.Lock) -> None:
    async with lock:
        pass


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
