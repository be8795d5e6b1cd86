"""statistics() of Lock, Event, Semaphore and Condition (trio's and anyio's fields)."""

from __future__ import annotations

import math

import runtime
import runtime.sync
import runtime.testing


async def _hold(lock: runtime.Lock) -> None:
    async with lock:
        await runtime.sleep(math.inf)


def test_lock_statistics_name_the_owner_and_count_waiters() -> None:
    async def main() -> list[object]:
        lock = runtime.Lock()
        seen: list[object] = [lock.statistics()]
        async with runtime.TaskGroup() as tg:
            holder = tg.spawn(_hold(lock), name="holder")
            tg.spawn(_hold(lock))
            tg.spawn(_hold(lock))
            await runtime.testing.wait_all_tasks_blocked()
            stats = lock.statistics()
            seen += [stats.locked, stats.owner.name if stats.owner else None,
                     stats.tasks_waiting]
            holder.abort()
            await runtime.testing.wait_all_tasks_blocked()
            seen.append(lock.statistics().tasks_waiting)
            tg.cancel_scope.cancel()
        return seen

    empty, locked, owner, waiting, after = runtime.run(main())
    assert empty == runtime.sync.LockStatistics(False, None, 0)
    assert (locked, owner, waiting, after) == (True, "holder", 2, 1)


def test_event_semaphore_and_condition_statistics_count_waiters() -> None:
    async def main() -> list[int]:
        event = runtime.Event()
        sem = runtime.Semaphore(0)
        cond = runtime.Condition()

        async def wait_cond() -> None:
            async with cond:
                await cond.wait()

        async with runtime.TaskGroup() as tg:
            for _ in range(2):
                tg.spawn(event.wait())
            for _ in range(3):
                tg.spawn(sem.acquire())
            tg.spawn(wait_cond())
            await runtime.testing.wait_all_tasks_blocked()
            counts = [event.statistics().tasks_waiting, sem.statistics().tasks_waiting,
                      cond.statistics().tasks_waiting,
                      int(cond.statistics().lock_statistics.locked)]
            event.set()
            for _ in range(3):
                sem.release()
            async with cond:
                cond.notify_all()
        counts += [event.statistics().tasks_waiting, sem.statistics().tasks_waiting,
                   cond.statistics().tasks_waiting]
        return counts

    assert runtime.run(main()) == [2, 3, 1, 0, 0, 0, 0]
