"""`Waker`: wakes a parked task once, from this thread or any other.

The cross-thread tests park a task with *no* timer pending, so the loop
sleeps in ``poll()`` with no timeout: only the reactor's `Waker` (through the
runner's remote queue) can bring it back. A bug there hangs the test until
pytest-timeout fails it; the explicit bounds below fail it sooner and say why.
"""

from __future__ import annotations

import threading
import time

import runtime
from runtime.lowlevel import Waker, current_task, park


def test_wake_from_another_thread_resumes_a_parked_task() -> None:
    ready = threading.Event()
    woken: list[bool] = []

    async def main() -> float:
        waker = current_task().waker
        flag: list[bool] = []

        def other_thread() -> None:
            ready.wait(5)
            time.sleep(0.02)  # let the loop block in poll() first
            flag.append(True)
            waker.wake()

        thread = threading.Thread(target=other_thread)
        thread.start()
        try:
            ready.set()
            start = time.perf_counter()
            while not flag:
                await park()
            woken.append(True)
            return time.perf_counter() - start
        finally:
            thread.join()

    elapsed = runtime.run(main())
    assert woken == [True]
    assert elapsed < 2.0, f"the cross-thread wake took {elapsed:.3f}s to reach the loop"


def test_many_threads_waking_many_tasks() -> None:
    n = 20

    async def parked(i: int, wakers: list[Waker], done: list[bool]) -> int:
        wakers[i] = current_task().waker
        while not done[i]:
            await park()
        return i

    async def main() -> list[int]:
        wakers: list[Waker] = [None] * n  # type: ignore[list-item]
        done = [False] * n
        handles = [runtime.spawn(parked(i, wakers, done)) for i in range(n)]
        await runtime.sleep(0.005)

        def wake(i: int) -> None:
            done[i] = True
            for _ in range(3):  # extra wakes are harmless
                wakers[i].wake()

        threads = [threading.Thread(target=wake, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        try:
            return [await h for h in handles]
        finally:
            for t in threads:
                t.join()

    assert runtime.run(main()) == list(range(20))


def test_wake_is_idempotent_the_task_runs_once() -> None:
    steps: list[str] = []
    wakers: list[Waker] = []

    async def sleeper() -> None:
        wakers.append(current_task().waker)  # as a leaf awaitable would store it
        steps.append("parking")
        await park()
        steps.append("resumed")
        await park()  # woken once: must stay here until woken again
        steps.append("resumed twice (wrong)")

    async def main() -> None:
        handle = runtime.spawn(sleeper())
        await runtime.sleep(0)
        for _ in range(5):
            wakers[0].wake()
        for _ in range(5):
            await runtime.sleep(0)
        assert steps == ["parking", "resumed"]
        handle.abort()

    runtime.run(main())
    assert steps == ["parking", "resumed"]


def test_waking_a_finished_task_is_a_no_op() -> None:
    kept: list[Waker] = []

    async def child() -> str:
        kept.append(current_task().waker)
        return "done"

    async def main() -> str:
        handle = runtime.spawn(child())
        result = await handle
        kept[0].wake()  # same thread

        thread = threading.Thread(target=kept[0].wake)  # and from another
        thread.start()
        thread.join()
        await runtime.sleep(0.005)
        return result

    assert runtime.run(main()) == "done"
    kept[0].wake()  # after run() has returned and the reactor is closed


def test_spurious_wake_of_a_sleeper_does_not_end_the_sleep_early() -> None:
    wakers: list[Waker] = []

    async def sleeper() -> float:
        wakers.append(current_task().waker)
        start = runtime.current_time()
        await runtime.sleep(0.05)
        return runtime.current_time() - start

    async def main() -> float:
        handle = runtime.spawn(sleeper())
        await runtime.sleep(0)
        wakers[0].wake()
        return await handle

    assert runtime.run(main()) >= 0.05


def test_cross_thread_ping_pong_loses_no_wakeup() -> None:
    # 2,000 handshakes between a parked task and a thread: each round the
    # thread waits for the task to park, then wakes it. A wake lost between
    # the remote queue and the reactor Waker would leave the task parked
    # with nothing else to do, and fail_after would report it.
    rounds = 2000

    async def main() -> int:
        waker = current_task().waker
        parked = threading.Event()
        turn = [0]

        def thread_side() -> None:
            for i in range(1, rounds + 1):
                if not parked.wait(10):
                    return
                parked.clear()
                turn[0] = i
                waker.wake()

        thread = threading.Thread(target=thread_side)
        thread.start()
        try:
            with runtime.fail_after(20):
                for i in range(1, rounds + 1):
                    parked.set()
                    while turn[0] < i:
                        await park()
        finally:
            parked.set()
            thread.join()
        return turn[0]

    assert runtime.run(main()) == rounds
