"""`runtime.Runner`: many top-level calls on one loop; `runtime.run` is a one-shot Runner."""

from __future__ import annotations

import math
import threading

import pytest
import sniffio

import runtime


def test_one_runner_runs_many_calls_and_returns_each_result() -> None:
    async def double(x: int) -> int:
        await runtime.sleep(0)
        return 2 * x

    with runtime.Runner() as runner:
        assert [runner.run(double(i)) for i in range(3)] == [0, 2, 4]


def test_a_task_left_running_by_one_call_is_parked_until_the_next_drives_the_loop() -> None:
    trace: list[str] = []
    ready = []

    async def host(tg_box: list[runtime.TaskGroup]) -> None:
        # A long-lived TaskGroup, as an async fixture would hold one.
        async with runtime.TaskGroup() as tg:
            tg_box.append(tg)
            await runtime.sleep(math.inf)

    async def ticker() -> None:
        try:
            while True:
                trace.append("tick")
                await runtime.sleep(0)
        finally:
            trace.append("ticker cancelled")

    async def first(box: list[runtime.TaskGroup]) -> None:
        runtime.spawn(host(box))
        while not box:
            await runtime.sleep(0)
        box[0].spawn(ticker())
        await runtime.sleep(0)
        ready.append(len(trace))

    async def second() -> int:
        for _ in range(3):
            await runtime.sleep(0)
        return len(trace)

    box: list[runtime.TaskGroup] = []
    with runtime.Runner() as runner:
        runner.run(first(box))
        between = len(trace)
        after = runner.run(second())
    assert between == ready[0]  # nothing ran between the calls
    assert after > between  # the ticker ran again while the second call drove the loop
    assert trace[-1] == "ticker cancelled"  # close cancelled it and waited


def test_close_cancels_what_is_left_and_runs_its_finally_blocks() -> None:
    trace: list[str] = []

    async def leftover() -> None:
        try:
            await runtime.sleep(math.inf)
        finally:
            trace.append("cleanup")

    async def main() -> None:
        runtime.spawn(leftover())
        await runtime.sleep(0)

    runner = runtime.Runner()
    runner.run(main())
    assert trace == []
    runner.close()
    assert trace == ["cleanup"]
    runner.close()  # idempotent


def test_close_raises_a_keyboard_interrupt_a_detached_task_raised_while_closing() -> None:
    async def leftover() -> None:
        try:
            await runtime.sleep(math.inf)
        finally:
            raise KeyboardInterrupt

    async def main() -> None:
        runtime.spawn(leftover())
        await runtime.sleep(0)

    runner = runtime.Runner()
    runner.run(main())
    with pytest.raises(KeyboardInterrupt):
        runner.close()


def test_run_on_a_closed_runner_is_a_runtime_error_and_closes_the_coroutine() -> None:
    async def main() -> None:
        pass

    runner = runtime.Runner()
    runner.close()
    coro = main()
    with pytest.raises(RuntimeError, match="closed Runner"):
        runner.run(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


def test_run_inside_a_running_runner_is_a_runtime_error() -> None:
    async def inner() -> None:
        pass

    with runtime.Runner() as runner:
        async def main() -> None:
            with pytest.raises(RuntimeError, match="inside a running runtime"):
                runner.run(inner())

        runner.run(main())


def test_an_exception_from_main_leaves_the_runner_usable() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    async def fine() -> str:
        return "ok"

    with runtime.Runner() as runner:
        with pytest.raises(ValueError, match="boom"):
            runner.run(fails())
        assert runner.run(fine()) == "ok"


def test_worker_threads_are_reused_across_calls_and_gone_after_close() -> None:
    async def ident() -> int:
        return await runtime.to_thread(threading.get_ident)

    before = set(threading.enumerate())
    with runtime.Runner() as runner:
        idents = {runner.run(ident()) for _ in range(20)}
    # One worker serves them all, but for a race: it hands its result back
    # a moment before it counts itself idle, so a call at once after may
    # start a second one.
    assert len(idents) <= 2
    assert set(threading.enumerate()) - before == set()


def test_sniffio_names_runtime_inside_a_call_and_nothing_outside_or_in_workers() -> None:
    async def main() -> tuple[str, str]:
        def in_worker() -> str:
            try:
                return sniffio.current_async_library()
            except sniffio.AsyncLibraryNotFoundError:
                return "none"

        return sniffio.current_async_library(), await runtime.to_thread(in_worker)

    with runtime.Runner() as runner:
        assert runner.run(main()) == ("runtime", "none")
        with pytest.raises(sniffio.AsyncLibraryNotFoundError):
            sniffio.current_async_library()
    assert runtime.run(main()) == ("runtime", "none")
    with pytest.raises(sniffio.AsyncLibraryNotFoundError):
        sniffio.current_async_library()


def test_runner_reads_runtime_backend_when_given_none(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.reactor import default_backend

    monkeypatch.setenv("RUNTIME_BACKEND", default_backend())
    with runtime.Runner() as runner:
        assert runner.poll.backend == default_backend()
    monkeypatch.setenv("RUNTIME_BACKEND", "no-such-backend")
    with pytest.raises(ValueError, match="no-such-backend"):
        runtime.Runner()
