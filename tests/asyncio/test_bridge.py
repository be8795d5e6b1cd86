"""One loop, two APIs: asyncio inside `runtime.run`, awaiting across, cancellation across."""

from __future__ import annotations

import asyncio

import pytest

import runtime
import runtime.asyncio as ra
from runtime.asyncio import aio_as_runtime, runtime_as_aio


def test_get_running_loop_works_inside_runtime_run_and_is_one_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ra.RuntimeEventLoop)
        assert asyncio.get_running_loop() is loop
        assert asyncio.get_event_loop() is loop

    runtime.run(main())


def test_a_runner_keeps_one_asyncio_loop_across_its_runs_and_none_runs_between() -> None:
    seen: list[asyncio.AbstractEventLoop] = []
    ticks: list[int] = []

    async def ticker() -> None:
        for i in range(1000):
            ticks.append(i)
            await asyncio.sleep(0)

    async def first() -> asyncio.Task[None]:
        seen.append(asyncio.get_running_loop())
        task = asyncio.get_running_loop().create_task(ticker())
        await aio_as_runtime(asyncio.sleep(0))
        return task

    async def second(task: asyncio.Task[None]) -> None:
        seen.append(asyncio.get_running_loop())
        await aio_as_runtime(task)  # started in the first run, finished in this one

    with runtime.Runner() as runner:
        task = runner.run(first())
        with pytest.raises(RuntimeError, match="no running event loop"):
            asyncio.get_running_loop()  # between runs the thread runs no loop
        assert len(ticks) < 1000
        runner.run(second(task))
        assert ticks == list(range(1000))
        assert seen[0] is seen[1] and not seen[0].is_closed()
    assert seen[0].is_closed()  # closed with the runner
    asyncio.run(asyncio.sleep(0))  # and the thread is free for another loop


def test_an_asyncio_coroutine_awaited_from_a_runtime_task() -> None:
    async def aio_side(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 2

    async def main() -> int:
        return await aio_as_runtime(aio_side(21))

    assert runtime.run(main()) == 42


def test_asyncio_exceptions_reach_the_runtime_task() -> None:
    async def aio_side() -> None:
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    async def main() -> None:
        with pytest.raises(ValueError, match="from asyncio"):
            await aio_as_runtime(aio_side())

    runtime.run(main())


def test_a_runtime_coroutine_awaited_from_asyncio_code() -> None:
    async def runtime_side() -> str:
        await runtime.sleep(0.01)
        return "from runtime"

    async def aio_side() -> str:
        return await runtime_as_aio(runtime_side())

    async def main() -> str:
        return await aio_as_runtime(aio_side())

    assert runtime.run(main()) == "from runtime"
    assert ra.run(aio_side()) == "from runtime"  # and on a standalone loop


def test_a_cancel_scope_cancels_the_asyncio_side_and_waits_for_its_cleanup() -> None:
    trace: list[str] = []

    async def aio_side() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            trace.append("asyncio saw CancelledError")
            await asyncio.sleep(0.01)  # cleanup that takes a while
            trace.append("asyncio cleaned up")
            raise

    async def main() -> None:
        with runtime.move_on_after(0.02) as scope:
            await aio_as_runtime(aio_side())
        trace.append("runtime scope exited")
        assert scope.cancelled_caught

    runtime.run(main())
    assert trace == ["asyncio saw CancelledError", "asyncio cleaned up", "runtime scope exited"]


def test_cancelling_the_asyncio_task_aborts_the_runtime_task_after_its_finally() -> None:
    trace: list[str] = []

    async def runtime_side() -> None:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            trace.append("runtime saw Cancelled")
            raise
        finally:
            trace.append("runtime finally")

    async def aio_main() -> None:
        task = asyncio.create_task(runtime_as_aio(runtime_side()))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        trace.append("asyncio got CancelledError")

    ra.run(aio_main())
    assert trace == ["runtime saw Cancelled", "runtime finally", "asyncio got CancelledError"]


def test_asyncio_and_runtime_tasks_share_one_thread_and_interleave() -> None:
    trace: list[str] = []

    async def aio_ticker() -> None:
        for i in range(3):
            trace.append(f"aio {i}")
            await asyncio.sleep(0.01)

    async def runtime_ticker() -> None:
        for i in range(3):
            trace.append(f"rt {i}")
            await runtime.sleep(0.01)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(aio_ticker())
        async with runtime.TaskGroup() as tg:
            tg.spawn(runtime_ticker())
            tg.spawn(aio_as_runtime(task))

    runtime.run(main())
    assert sorted(trace) == sorted([f"{k} {i}" for k in ("aio", "rt") for i in range(3)])
    assert trace.index("aio 1") < trace.index("rt 2") and trace.index("rt 1") < trace.index("aio 2")


def test_aio_as_runtime_outside_a_runtime_loop_says_so() -> None:
    async def main() -> None:
        pass

    async def aio_main() -> None:
        coro = main()
        with pytest.raises(RuntimeError, match=r"runtime\.asyncio loop"):
            await runtime_as_aio(coro)
        coro.close()

    asyncio.run(aio_main())


def test_sniffio_names_the_api_each_side_runs_under() -> None:
    import sniffio

    async def aio_side() -> str:
        await asyncio.sleep(0)
        return sniffio.current_async_library()

    async def main() -> tuple[str, str]:
        return sniffio.current_async_library(), await aio_as_runtime(aio_side())

    assert runtime.run(main()) == ("runtime", "asyncio")
    assert ra.run(aio_side()) == "asyncio"


def test_a_signal_handler_inside_runtime_run_leaves_the_runtimes_wakeup_fd() -> None:
    import os
    import signal

    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(before)
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        os.kill(os.getpid(), signal.SIGUSR1)
        assert await aio_as_runtime(asyncio.wait_for(got, 5)) == "usr1"
        assert loop.remove_signal_handler(signal.SIGUSR1)
        after = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(after)
        assert after == before  # still the runtime's SIGINT catcher's
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL

    runtime.run(main())
