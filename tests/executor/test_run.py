"""`runtime.run`: what it returns, raises, refuses, and leaves behind."""

from __future__ import annotations

import os
import threading
import time
import traceback

import pytest

import runtime
from runtime.lowlevel import wait_readable
from tests.helpers import socket_pair


def test_run_returns_main_result() -> None:
    async def main() -> dict[str, int]:
        await runtime.sleep(0)
        return {"answer": 42}

    assert runtime.run(main()) == {"answer": 42}


def test_run_returns_none_for_a_main_that_returns_nothing() -> None:
    async def main() -> None:
        pass

    assert runtime.run(main()) is None


def test_run_reraises_main_exception_with_the_raising_frame() -> None:
    def deep() -> None:
        raise LookupError("deep down")

    async def main() -> None:
        await runtime.sleep(0.001)
        deep()

    with pytest.raises(LookupError, match="deep down") as info:
        runtime.run(main())
    names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["main", "deep"]


def test_run_reraises_base_exceptions_too() -> None:
    async def main() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit) as info:
        runtime.run(main())
    assert info.value.code == 3


def test_run_can_be_called_again_after_it_returned() -> None:
    async def main(i: int) -> int:
        await runtime.sleep(0)
        return i

    assert [runtime.run(main(i)) for i in range(3)] == [0, 1, 2]


def test_run_inside_run_raises_runtime_error() -> None:
    async def inner() -> None:
        pass

    async def main() -> str:
        coro = inner()
        with pytest.raises(RuntimeError, match="inside a running runtime"):
            runtime.run(coro)
        assert coro.cr_frame is None  # closed: no "never awaited" warning
        await runtime.sleep(0)
        return "outer still fine"

    assert runtime.run(main()) == "outer still fine"


async def an_async_function() -> None:
    pass


def test_run_of_the_function_instead_of_its_coroutine_raises_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="an_async_function"):
        runtime.run(an_async_function)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, 3, "main", lambda: None])
def test_run_of_a_non_coroutine_raises_type_error_naming_the_type(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        runtime.run(bad)  # type: ignore[arg-type]


def test_a_generator_is_not_a_coroutine() -> None:
    def gen():  # type: ignore[no-untyped-def]
        yield

    with pytest.raises(TypeError, match="generator"):
        runtime.run(gen())


def test_awaiting_a_foreign_awaitable_raises_type_error_in_the_task() -> None:
    import asyncio

    async def main() -> None:
        fut = asyncio.Future(loop=asyncio.new_event_loop())
        try:
            await fut
        finally:
            fut.get_loop().close()

    with pytest.raises(TypeError, match="not a runtime awaitable"):
        runtime.run(main())


# -- end of main: nothing is dropped -------------------------------------------------


def test_tasks_left_running_when_main_returns_get_their_finally_run() -> None:
    trace: list[str] = []

    async def worker(name: str, delay: float) -> None:
        try:
            await runtime.sleep(delay)
            trace.append(f"{name} woke (wrong)")
        except runtime.Cancelled:
            trace.append(f"{name} cancelled")
            raise
        finally:
            trace.append(f"{name} finally")

    async def main() -> str:
        runtime.spawn(worker("sleeper", 10))
        runtime.spawn(worker("forever", float("inf")))
        runtime.spawn(worker("never-started", 10))
        await runtime.sleep(0)
        return "main done"

    start = time.perf_counter()
    assert runtime.run(main()) == "main done"
    assert time.perf_counter() - start < 2
    assert sorted(trace) == sorted([
        "sleeper cancelled", "sleeper finally",
        "forever cancelled", "forever finally",
        "never-started cancelled", "never-started finally",
    ])


def test_tasks_left_running_when_main_raises_get_their_finally_run() -> None:
    trace: list[str] = []

    async def worker() -> None:
        try:
            await runtime.sleep(10)
        finally:
            trace.append("worker finally")

    async def main() -> None:
        runtime.spawn(worker())
        await runtime.sleep(0.001)
        raise ValueError("main failed")

    with pytest.raises(ValueError, match="main failed"):
        runtime.run(main())
    assert trace == ["worker finally"]


def test_leftover_task_may_await_in_its_finally_under_a_shield() -> None:
    trace: list[str] = []

    async def worker() -> None:
        try:
            await runtime.sleep(10)
        finally:
            with runtime.CancelScope(shield=True):
                await runtime.sleep(0.005)
                trace.append("cleanup slept")

    async def main() -> None:
        runtime.spawn(worker())
        await runtime.sleep(0)

    runtime.run(main())
    assert trace == ["cleanup slept"]


def test_leftover_task_parked_on_io_is_cancelled() -> None:
    trace: list[str] = []

    async def reader(sock: object) -> None:
        try:
            await wait_readable(sock)
        except runtime.Cancelled:
            trace.append("reader cancelled")
            raise

    async def main(sock: object) -> None:
        runtime.spawn(reader(sock))
        await runtime.sleep(0.001)

    with socket_pair() as (a, _b):
        runtime.run(main(a))
    assert trace == ["reader cancelled"]


# -- leaks (the autouse fixture checks every test; this one says it outright) --------


def _fds() -> dict[str, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the directory fd listdir itself used, closed again
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_run_leaves_no_fds_or_threads_behind() -> None:
    async def main(sock: object, peer: object) -> int:
        async def reader() -> None:
            await wait_readable(sock)

        handle = runtime.spawn(reader())
        total = 0
        for i in range(5):
            total += await runtime.to_thread(int, i)
        peer.send(b"x")  # type: ignore[attr-defined]
        await handle
        runtime.spawn(runtime.sleep(10))
        return total

    with socket_pair() as (a, b):
        fds_before = _fds()
        threads_before = set(threading.enumerate())
        assert runtime.run(main(a, b)) == 10
        assert _fds() == fds_before
        assert set(threading.enumerate()) == threads_before


def test_two_runtimes_in_two_threads_run_independently() -> None:
    # One runner per thread: run() in another thread is not "run inside run".
    results: dict[str, object] = {}

    async def work(name: str) -> str:
        for _ in range(20):
            await runtime.sleep(0.001)
        return name

    def in_thread() -> None:
        try:
            results["thread"] = runtime.run(work("thread"))
        except BaseException as exc:  # reported by the assertion below
            results["thread"] = exc

    async def main() -> str:
        thread = threading.Thread(target=in_thread)
        thread.start()
        try:
            return await work("main")
        finally:
            await runtime.to_thread(thread.join)

    assert runtime.run(main()) == "main"
    assert results == {"thread": "thread"}


# -- backend and debug -------------------------------------------------------------------


def test_run_on_each_built_backend() -> None:
    from runtime.reactor import available_backends

    async def main() -> str:
        await runtime.sleep(0.001)
        return "ok"

    for backend in available_backends():
        assert runtime.run(main(), backend=backend) == "ok", backend


def test_unknown_backend_raises_value_error_and_closes_main() -> None:
    import warnings

    async def main() -> None:
        pass

    coro = main()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "never awaited" warning would fail here
        with pytest.raises(ValueError, match="nonsense"):
            runtime.run(coro, backend="nonsense")
        assert coro.cr_frame is None


def test_debug_mode_logs_a_step_that_blocks_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    async def blocker() -> None:
        time.sleep(0.15)  # blocking call inside a task: what debug mode is for

    async def main() -> None:
        await runtime.spawn(blocker(), name="the-blocker")

    with caplog.at_level(logging.WARNING, logger="runtime"):
        runtime.run(main(), debug=True)
    assert "the-blocker" in caplog.text
    assert "blocking" in caplog.text
