"""`runtime.spawn` and `JoinHandle`: await, abort, is_finished, errors.

Modelled on curio's ``test_task_cancel_join_wait`` and tokio's
``task_abort.rs``: each test is one observable promise of the handle.
"""

from __future__ import annotations

import gc
import logging
import traceback
import warnings

import pytest

import runtime
from runtime.lowlevel import current_task


def frame_names(exc: BaseException) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


def fail_here() -> None:
    raise ValueError("from the child")


async def failing_child() -> None:
    await runtime.sleep(0)
    fail_here()


# -- await --------------------------------------------------------------------------


def test_await_handle_gives_the_task_result() -> None:
    async def child(x: int) -> int:
        await runtime.sleep(0.001)
        return x * 2

    async def main() -> list[int]:
        handles = [runtime.spawn(child(i)) for i in range(5)]
        return [await h for h in handles]

    assert runtime.run(main()) == [0, 2, 4, 6, 8]


def test_await_handle_of_an_already_finished_task() -> None:
    async def child() -> str:
        return "early"

    async def main() -> tuple[bool, str]:
        handle = runtime.spawn(child())
        await runtime.sleep(0.005)
        finished = handle.is_finished()
        return finished, await handle

    assert runtime.run(main()) == (True, "early")


def test_await_handle_twice_gives_the_same_result() -> None:
    async def child() -> object:
        return object()

    async def main() -> bool:
        handle = runtime.spawn(child())
        return (await handle) is (await handle)

    assert runtime.run(main()) is True


def test_two_tasks_can_await_the_same_handle() -> None:
    async def child() -> str:
        await runtime.sleep(0.005)
        return "shared"

    async def joiner(handle: runtime.JoinHandle[str]) -> str:
        return await handle

    async def main() -> list[str]:
        handle = runtime.spawn(child())
        joiners = [runtime.spawn(joiner(handle)) for _ in range(3)]
        return [await j for j in joiners]

    assert runtime.run(main()) == ["shared"] * 3


def test_exception_reaches_the_awaiter_with_its_traceback() -> None:
    async def main() -> None:
        handle = runtime.spawn(failing_child())
        with pytest.raises(ValueError, match="from the child") as info:
            await handle
        names = frame_names(info.value)
        assert "fail_here" in names  # the raising frame
        assert "failing_child" in names
        assert names.index("failing_child") < names.index("fail_here")

    runtime.run(main())


def test_is_finished_tracks_the_task() -> None:
    async def child() -> None:
        await runtime.sleep(0.01)

    async def main() -> list[bool]:
        handle = runtime.spawn(child())
        seen = [handle.is_finished()]
        await runtime.sleep(0)
        seen.append(handle.is_finished())
        await handle
        seen.append(handle.is_finished())
        return seen

    assert runtime.run(main()) == [False, False, True]


# -- abort --------------------------------------------------------------------------


def test_abort_of_a_sleeping_task_makes_await_raise_cancelled() -> None:
    trace: list[str] = []

    async def sleeper() -> None:
        try:
            await runtime.sleep(10)
        finally:
            trace.append("finally")

    async def main() -> None:
        handle = runtime.spawn(sleeper())
        await runtime.sleep(0.005)
        handle.abort()
        assert not handle.is_finished()  # delivered at its next step, not inline
        start = runtime.current_time()
        with pytest.raises(runtime.Cancelled):
            await handle
        assert runtime.current_time() - start < 1.0
        assert handle.is_finished()

    runtime.run(main())
    assert trace == ["finally"]


def test_abort_is_idempotent() -> None:
    async def main() -> None:
        handle = runtime.spawn(runtime.sleep(10))
        await runtime.sleep(0)
        handle.abort()
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle

    runtime.run(main())


def test_abort_of_a_finished_task_keeps_its_result() -> None:
    async def child() -> int:
        return 42

    async def main() -> int:
        handle = runtime.spawn(child())
        await runtime.sleep(0.005)
        handle.abort()
        return await handle

    assert runtime.run(main()) == 42


def test_aborted_task_that_swallows_cancelled_still_sees_it_at_next_checkpoint() -> None:
    # Abort is level-triggered like a cancel scope: catching Cancelled once
    # does not make the abort go away.
    trace: list[str] = []

    async def stubborn() -> str:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            trace.append("swallowed")
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            trace.append("cancelled again")
            raise
        return "never"

    async def main() -> None:
        handle = runtime.spawn(stubborn())
        await runtime.sleep(0.001)
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle

    runtime.run(main())
    assert trace == ["swallowed", "cancelled again"]


def test_abort_wakes_a_task_parked_without_a_timer() -> None:
    # The task waits on nothing but its waker, which nobody holds.
    async def parked_forever() -> None:
        await runtime.sleep(float("inf"))

    async def main() -> None:
        handle = runtime.spawn(parked_forever())
        await runtime.sleep(0.001)
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle

    runtime.run(main())


def test_a_task_aborting_itself_runs_on_until_its_next_checkpoint() -> None:
    trace: list[str] = []

    async def self_aborting() -> None:
        handle = holder[0]
        handle.abort()
        trace.append("still running after abort")  # no checkpoint yet
        await runtime.sleep(0)
        trace.append("not reached")

    holder: list[runtime.JoinHandle[None]] = []

    async def main() -> None:
        holder.append(runtime.spawn(self_aborting()))
        with pytest.raises(runtime.Cancelled):
            await holder[0]

    runtime.run(main())
    assert trace == ["still running after abort"]


# -- spawn's errors -----------------------------------------------------------------


async def an_async_function() -> None:
    pass


def test_spawn_of_a_non_coroutine_raises_type_error_naming_it() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="an_async_function"):
            runtime.spawn(an_async_function)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="int"):
            runtime.spawn(17)  # type: ignore[arg-type]

    runtime.run(main())


def test_spawn_outside_a_runtime_raises_runtime_error_and_closes_the_coroutine() -> None:
    coro = an_async_function()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be an error
        with pytest.raises(RuntimeError, match="outside"):
            runtime.spawn(coro)
        assert coro.cr_frame is None  # closed, so no "never awaited" warning later
        del coro
        gc.collect()


def test_spawned_task_has_a_name() -> None:
    async def worker() -> str:
        return current_task().name

    async def main() -> tuple[str, str, str]:
        a = runtime.spawn(worker())
        b = runtime.spawn(worker(), name="custom")
        return a.name, b.name, await b

    name_a, name_b, seen = runtime.run(main())
    assert "worker" in name_a
    assert (name_b, seen) == ("custom", "custom")


# -- unretrieved exceptions -----------------------------------------------------------


def test_unretrieved_exception_is_logged_when_the_handle_is_collected(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        handle = runtime.spawn(failing_child(), name="forgotten")
        await runtime.sleep(0.005)
        assert handle.is_finished()
        del handle

    with caplog.at_level(logging.ERROR, logger="runtime"):
        runtime.run(main())
        gc.collect()
    records = [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert len(records) == 1
    assert "forgotten" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], ValueError)
    assert "fail_here" in caplog.text  # the traceback is logged with it


def test_retrieved_exception_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        handle = runtime.spawn(failing_child())
        with pytest.raises(ValueError):
            await handle
        del handle

    with caplog.at_level(logging.ERROR, logger="runtime"):
        runtime.run(main())
        gc.collect()
    assert "never retrieved" not in caplog.text


def test_aborted_task_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        handle = runtime.spawn(runtime.sleep(10))
        await runtime.sleep(0)
        handle.abort()
        await runtime.sleep(0.005)
        assert handle.is_finished()
        del handle

    with caplog.at_level(logging.ERROR, logger="runtime"):
        runtime.run(main())
        gc.collect()
    assert "never retrieved" not in caplog.text


def test_main_exception_raised_by_run_is_not_logged_as_unretrieved(
        caplog: pytest.LogCaptureFixture) -> None:
    # run() re-raises main's exception: that *is* retrieving it.
    async def main() -> None:
        await runtime.sleep(0)
        fail_here()

    with caplog.at_level(logging.ERROR, logger="runtime"):
        with pytest.raises(ValueError):
            runtime.run(main())
        gc.collect()
    assert "never retrieved" not in caplog.text


def test_awaiting_a_failed_childs_handle_in_the_group_body_reports_its_error_once() -> None:
    # The child's ValueError reaches the group twice: from the child, and
    # re-raised by the body that awaited its handle. It is one failure.
    async def child() -> None:
        raise ValueError("boom")

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            handle = tg.spawn(child())
            await handle

    with pytest.raises(ExceptionGroup) as info:
        runtime.run(main())
    assert [repr(e) for e in info.value.exceptions] == ["ValueError('boom')"]
