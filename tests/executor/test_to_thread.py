"""`runtime.to_thread`: blocking work on the pool, woken through the reactor."""

from __future__ import annotations

import threading
import time
import traceback

import pytest

import runtime


def test_to_thread_returns_the_result_and_runs_in_another_thread() -> None:
    def work(a: int, b: int) -> tuple[int, int]:
        return a + b, threading.get_ident()

    async def main() -> tuple[int, int]:
        return await runtime.to_thread(work, 2, 3)

    total, ident = runtime.run(main())
    assert total == 5
    assert ident != threading.get_ident()


def blocking_failure() -> None:
    time.sleep(0.001)
    raise OSError("disk on fire")


def test_to_thread_reraises_the_exception_with_the_thread_frame() -> None:
    async def main() -> None:
        with pytest.raises(OSError, match="disk on fire") as info:
            await runtime.to_thread(blocking_failure)
        names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
        assert "blocking_failure" in names

    runtime.run(main())


def test_the_loop_runs_other_tasks_while_a_thread_blocks() -> None:
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await runtime.sleep(0.005)
                ticks += 1

        handle = runtime.spawn(ticker())
        await runtime.to_thread(time.sleep, 0.1)
        handle.abort()
        return ticks

    assert runtime.run(main()) >= 5


def test_to_thread_wakes_a_loop_with_nothing_else_to_do() -> None:
    # No timers, no IO: the loop blocks in poll() with no timeout, and only
    # the worker's wake through the reactor Waker can end it.
    async def main() -> float:
        start = time.perf_counter()
        await runtime.to_thread(time.sleep, 0.02)
        return time.perf_counter() - start

    assert 0.02 <= runtime.run(main()) < 1.0


def test_abort_abandons_the_call_without_blocking_the_loop() -> None:
    trace: list[str] = []
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.6)  # long enough that a stalled CI box still sees it running
        finished.set()
        return "dropped"

    async def main() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await runtime.sleep(0.005)
                ticks += 1

        async def caller() -> str:
            try:
                return await runtime.to_thread(slow, abandon_on_cancel=True)
            except runtime.Cancelled:
                trace.append("caller cancelled")
                raise

        tick = runtime.spawn(ticker())
        call = runtime.spawn(caller())
        await runtime.sleep(0.02)
        aborted_at = runtime.current_time()
        call.abort()
        with pytest.raises(runtime.Cancelled):
            await call
        assert runtime.current_time() - aborted_at < 0.1  # did not wait for the thread
        assert not finished.is_set()
        ticks_at_abort = ticks
        await runtime.sleep(0.1)  # the abandoned call still sleeps in its thread
        assert not finished.is_set()
        assert ticks - ticks_at_abort >= 5  # ...and the loop kept going
        tick.abort()

    runtime.run(main())
    assert trace == ["caller cancelled"]
    # As in trio, run() does not wait for an abandoned call; its daemon worker
    # finishes the call on its own and then exits.
    assert not finished.is_set()
    assert finished.wait(5)


def test_more_calls_than_the_default_limiter_has_tokens_all_complete() -> None:
    from runtime.executor.threads import DEFAULT_THREAD_LIMIT

    n = DEFAULT_THREAD_LIMIT * 2 + 5
    peak = 0
    active = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal peak, active
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return i

    async def main() -> list[int]:
        handles = [runtime.spawn(runtime.to_thread(work, i)) for i in range(n)]
        return [await h for h in handles]

    assert runtime.run(main()) == list(range(n))
    assert peak <= DEFAULT_THREAD_LIMIT


def test_to_thread_outside_a_runtime_raises_runtime_error() -> None:
    coro = runtime.to_thread(int, 1)
    with pytest.raises(RuntimeError):
        coro.send(None)
    coro.close()
