"""Calls from other threads: current_token, RuntimeToken.run_sync_soon, from_thread.

The round trip and exception propagation run side by side with trio
(``trio.from_thread`` with ``trio.lowlevel.current_trio_token``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio._core._thread_cache as trio_thread_cache
import trio.from_thread
import trio.lowlevel

import runtime
import runtime.from_thread
from tests.helpers.platform_gaps import needs_trio


async def _trio_to_thread(fn: Callable[..., Any], *args: Any) -> Any:
    # trio keeps an idle worker for 10 s; the leak check allows 1 s (see trio_compat).
    trio_thread_cache.IDLE_TIMEOUT = 0.05  # type: ignore[attr-defined]
    return await trio.to_thread.run_sync(fn, *args)


class _Side:
    """The calls these scenarios make, under one framework."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "trio":
            self.run = lambda main: trio.run(main)
            self.token = trio.lowlevel.current_trio_token
            self.to_thread = _trio_to_thread
            self.run_sync = lambda fn, *a, token: trio.from_thread.run_sync(
                fn, *a, trio_token=token)
            self.run_async = lambda fn, *a, token: trio.from_thread.run(fn, *a, trio_token=token)
            self.sleep = trio.sleep
            self.Cancelled: type[BaseException] = trio.Cancelled
        else:
            self.run = lambda main: runtime.run(main())
            self.token = runtime.current_token
            self.to_thread = runtime.to_thread
            self.run_sync = lambda fn, *a, token: runtime.from_thread.run_sync(
                fn, *a, token=token)
            self.run_async = lambda fn, *a, token: runtime.from_thread.run(fn, *a, token=token)
            self.sleep = runtime.sleep
            self.Cancelled = runtime.Cancelled

    def __repr__(self) -> str:
        return self.name


SIDES = [pytest.param(_Side("runtime"), id="runtime"),
         pytest.param(_Side("trio"), id="trio", marks=needs_trio)]


@pytest.mark.parametrize("side", SIDES)
def test_a_round_trip_from_a_plain_thread(side: _Side) -> None:
    trace: list[str] = []

    def in_thread(token: Any) -> str:
        trace.append("thread starts")
        value = side.run_sync(lambda x: trace.append(f"loop got {x}") or x * 2, 21, token=token)

        async def later(x: int) -> int:
            await side.sleep(0.001)
            trace.append("async part ran")
            return x + 1

        return f"{value} {side.run_async(later, value, token=token)}"

    async def main() -> str:
        token = side.token()
        result: list[str] = []
        thread = threading.Thread(target=lambda: result.append(in_thread(token)))
        thread.start()
        await side.to_thread(thread.join)
        return result[0]

    assert side.run(main) == "42 43"
    assert trace == ["thread starts", "loop got 21", "async part ran"]


@pytest.mark.parametrize("side", SIDES)
def test_exceptions_travel_back_to_the_calling_thread(side: _Side) -> None:
    def fails() -> None:
        raise KeyError("sync")

    async def fails_async() -> None:
        await side.sleep(0)
        raise ValueError("async")

    def in_thread(token: Any) -> list[str]:
        seen = []
        for call in (lambda: side.run_sync(fails, token=token),
                     lambda: side.run_async(fails_async, token=token)):
            try:
                call()
            except Exception as exc:
                seen.append(f"{type(exc).__name__}: {exc}")
        return seen

    async def main() -> list[str]:
        return await side.to_thread(in_thread, side.token())

    assert side.run(main) == ["KeyError: 'sync'", "ValueError: async"]


def test_a_to_thread_worker_needs_no_token() -> None:
    async def double(x: int) -> int:
        await runtime.sleep(0)
        return 2 * x

    def worker() -> tuple[int, int]:
        return (runtime.from_thread.run_sync(lambda: 5),
                runtime.from_thread.run(double, 21))

    async def main() -> tuple[int, int]:
        return await runtime.to_thread(worker)

    assert runtime.run(main()) == (5, 42)


def test_run_sync_soon_calls_run_in_order_on_the_loop_thread() -> None:
    calls: list[tuple[int, int]] = []
    loop_thread = threading.get_ident()

    async def main() -> None:
        token = runtime.current_token()
        done = runtime.Event()

        def queue_them() -> None:
            for i in range(100):
                token.run_sync_soon(lambda i=i: calls.append((i, threading.get_ident())))
            token.run_sync_soon(done.set)

        await runtime.to_thread(queue_them)
        await done.wait()

    runtime.run(main())
    assert [i for i, _ in calls] == list(range(100))
    assert {ident for _, ident in calls} == {loop_thread}


def test_a_finished_runtime_refuses_calls_with_run_finished_error() -> None:
    async def main() -> runtime.RuntimeToken:
        return runtime.current_token()

    token = runtime.run(main())
    with pytest.raises(runtime.RunFinishedError, match="has finished"):
        token.run_sync_soon(print)
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            runtime.from_thread.run_sync(print, token=token)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(5)
    assert [type(e) for e in errors] == [runtime.RunFinishedError]


def test_a_call_accepted_before_close_is_made_before_close_returns() -> None:
    made = threading.Event()
    runner = runtime.Runner()

    async def main() -> runtime.RuntimeToken:
        return runtime.current_token()

    token = runner.run(main())
    token.run_sync_soon(made.set)  # queued while no call drives the loop
    assert not made.is_set()
    runner.close()
    assert made.is_set()


def test_from_the_loop_thread_is_a_runtime_error_not_a_deadlock() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="would wait for itself"):
            runtime.from_thread.run_sync(print, token=runtime.current_token())

    runtime.run(main())


def test_without_a_token_outside_a_worker_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="needs token="):
        runtime.from_thread.run_sync(print)
    with pytest.raises(TypeError, match="RuntimeToken"):
        runtime.from_thread.run_sync(print, token="nope")  # type: ignore[arg-type]


def test_a_failing_run_sync_soon_callback_stops_the_run_with_its_exception() -> None:
    def boom() -> None:
        raise OSError("callback failed")

    async def main() -> None:
        runtime.current_token().run_sync_soon(boom)
        await runtime.sleep(10)

    with pytest.raises(OSError, match="callback failed"):
        runtime.run(main())


def test_cancelling_the_caller_cancels_its_from_thread_run_task() -> None:
    def worker(started: threading.Event) -> str:
        try:
            runtime.from_thread.run(_sleep_reporting, started)
        except runtime.Cancelled:
            return "cancelled in the thread"
        return "not cancelled"

    async def main() -> list[Any]:
        started = threading.Event()
        seen: list[Any] = []
        with runtime.move_on_after(0.05):
            seen.append(await runtime.to_thread(worker, started))
        seen.append(started.is_set())
        return seen

    assert runtime.run(main()) == ["cancelled in the thread", True]


async def _sleep_reporting(started: threading.Event) -> None:
    started.set()
    await runtime.sleep(10)


def _poll_until_cancelled(check: Callable[[], None]) -> str:
    import time

    for _ in range(500):  # 5 s at most
        try:
            check()
        except BaseException as exc:
            return type(exc).__name__
        time.sleep(0.01)
    return "never cancelled"


@needs_trio
def test_check_cancelled_tells_a_worker_its_caller_was_cancelled_as_in_trio() -> None:
    async def under_runtime() -> tuple[str, bool]:
        with runtime.move_on_after(0.05) as scope:
            seen = await runtime.to_thread(_poll_until_cancelled,
                                           runtime.from_thread.check_cancelled)
        return seen, scope.cancelled_caught

    async def under_trio() -> tuple[str, bool]:
        trio_thread_cache.IDLE_TIMEOUT = 0.05  # type: ignore[attr-defined]
        with trio.move_on_after(0.05) as scope:
            seen = await trio.to_thread.run_sync(_poll_until_cancelled,
                                                 trio.from_thread.check_cancelled)
        return seen, scope.cancelled_caught

    # The worker sees Cancelled; the waiting task gets its result back (the
    # string) and, with no checkpoint after it, leaves the scope normally.
    assert runtime.run(under_runtime()) == trio.run(under_trio) == ("Cancelled", False)


def test_check_cancelled_reaches_an_abandoned_worker() -> None:
    done = threading.Event()
    seen: list[str] = []

    def work() -> None:
        seen.append(_poll_until_cancelled(runtime.from_thread.check_cancelled))
        done.set()

    async def main() -> bool:
        with runtime.move_on_after(0.05) as scope:
            await runtime.to_thread(work, abandon_on_cancel=True)
        return scope.cancelled_caught

    assert runtime.run(main())
    assert done.wait(5)
    assert seen == ["Cancelled"]


def test_check_cancelled_outside_a_worker_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"outside a runtime\.to_thread worker"):
        runtime.from_thread.check_cancelled()


@needs_trio
def test_the_token_can_key_per_loop_state_weakly_like_trios() -> None:
    import weakref

    async def under(token_of: Callable[[], Any]) -> bool:
        state: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        state[token_of()] = "per-loop"
        return state[token_of()] == "per-loop"

    assert runtime.run(under(runtime.current_token))
    assert trio.run(under, trio.lowlevel.current_trio_token)


_VAR: Any = __import__("contextvars").ContextVar("_VAR", default="unset")


@pytest.mark.parametrize("side", SIDES)
def test_context_variables_travel_to_the_worker_and_back_into_the_loop(side: _Side) -> None:
    def in_worker(token: Any) -> tuple[str, str, str]:
        seen_here = _VAR.get()
        _VAR.set("set in the worker")

        async def in_loop_async() -> str:
            return str(_VAR.get())

        return (seen_here, side.run_sync(_VAR.get, token=token),
                side.run_async(in_loop_async, token=token))

    async def main() -> tuple[str, str, str]:
        _VAR.set("set in the task")
        return await side.to_thread(in_worker, side.token())  # type: ignore[no-any-return]

    assert side.run(main) == ("set in the task", "set in the worker", "set in the worker")


@pytest.mark.parametrize("side", SIDES)
def test_a_worker_runs_no_async_library_even_if_the_task_named_one(side: _Side) -> None:
    import sniffio

    def library() -> str | None:
        try:
            return sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            return None

    async def main() -> tuple[str | None, str | None]:
        sniffio.current_async_library_cvar.set("declared")  # as anyio.run does
        return library(), await side.to_thread(library)

    # The loop thread's own name wins over the variable; the worker has neither.
    assert side.run(main) == (side.name, None)


def test_a_finished_call_leaves_nothing_referencing_its_arguments_or_context() -> None:
    import gc
    import weakref

    class Value:
        pass

    async def main() -> list[bool]:
        arg, in_context = Value(), Value()
        _VAR.set(in_context)
        refs = [weakref.ref(arg), weakref.ref(in_context)]
        await runtime.to_thread(lambda _: None, arg)
        _VAR.set(None)
        del arg, in_context
        await runtime.sleep(0.05)  # the worker is back waiting for its next job
        gc.collect()
        return [ref() is None for ref in refs]

    assert runtime.run(main()) == [True, True]


def test_one_runtime_may_call_into_another_running_in_another_thread() -> None:
    started = threading.Event()
    tokens: list[Any] = []

    async def other() -> None:
        tokens.append(runtime.current_token())
        started.set()
        await runtime.sleep(0.2)

    thread = threading.Thread(target=lambda: runtime.run(other()))
    thread.start()
    try:
        assert started.wait(5)

        async def main() -> int:
            return runtime.from_thread.run_sync(lambda: 7, token=tokens[0])

        assert runtime.run(main()) == 7
    finally:
        thread.join(5)
