"""`CapacityLimiter`, side by side with trio's, and `to_thread(limiter=, abandon_on_cancel=)`."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
import trio
import trio.testing

import runtime
import runtime.testing
from tests.helpers.platform_gaps import needs_trio


def _scenario(lib: Any, wait_blocked: Any, run: Any) -> list[str]:
    async def user(limiter: Any, name: str, trace: list[str], hold: Any) -> None:
        async with limiter:
            trace.append(f"{name} in")
            await hold.wait()
        trace.append(f"{name} out")

    async def main() -> list[str]:
        trace: list[str] = []
        limiter = lib.CapacityLimiter(2)
        holds = {name: lib.Event() for name in "abcde"}
        async with _group(lib) as spawn:
            for name in "abcde":
                spawn(user, limiter, name, trace, holds[name])
                await wait_blocked()
            stats = limiter.statistics()
            trace.append(f"borrowed {stats.borrowed_tokens}/{stats.total_tokens}, "
                         f"{stats.tasks_waiting} waiting")
            limiter.total_tokens = 3
            await wait_blocked()
            trace.append(f"available {limiter.available_tokens}")
            limiter.total_tokens = 1  # takes effect as tokens come back
            for name in "bacde":
                holds[name].set()
                await wait_blocked()
        trace.append(f"borrowed {limiter.borrowed_tokens}")
        return trace

    return run(main)  # type: ignore[no-any-return]


def _group(lib: Any) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def group() -> Any:
        if lib is trio:
            async with trio.open_nursery() as nursery:
                yield nursery.start_soon
        else:
            async with runtime.TaskGroup() as tg:
                yield lambda fn, *args: tg.spawn(fn(*args))

    return group()


EXPECTED = ["a in", "b in", "borrowed 2/2, 3 waiting", "c in", "available 0",
            "b out", "a out", "c out", "d in", "d out", "e in", "e out", "borrowed 0"]


def test_runtime_limiter_admits_in_order_and_grows_with_total_tokens() -> None:
    trace = _scenario(runtime, runtime.testing.wait_all_tasks_blocked,
                      lambda main: runtime.run(main()))
    assert trace == EXPECTED


@needs_trio
def test_trio_limiter_gives_the_same_trace() -> None:
    assert _scenario(trio, trio.testing.wait_all_tasks_blocked, trio.run) == EXPECTED


def test_borrowing_twice_or_releasing_what_is_not_held_is_a_runtime_error() -> None:
    async def main() -> None:
        limiter = runtime.CapacityLimiter(2)
        await limiter.acquire()
        with pytest.raises(RuntimeError, match="already holding one"):
            await limiter.acquire()
        limiter.release()
        with pytest.raises(RuntimeError, match="isn't holding any"):
            limiter.release()
        limiter.acquire_on_behalf_of_nowait("job")
        assert limiter.statistics().borrowers == ["job"]
        limiter.release_on_behalf_of("job")

    runtime.run(main())


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("3", TypeError),
                                        (True, TypeError)])
def test_total_tokens_must_be_a_non_negative_int_or_inf(bad: Any, error: type) -> None:
    with pytest.raises(error, match="total_tokens"):
        runtime.CapacityLimiter(bad)
    assert runtime.CapacityLimiter(math.inf).total_tokens == math.inf


def test_a_cancelled_acquire_leaves_the_queue_and_the_token_goes_to_the_next() -> None:
    async def main() -> list[str]:
        limiter = runtime.CapacityLimiter(1)
        trace: list[str] = []
        await limiter.acquire()

        async def waiter(name: str) -> None:
            async with limiter:
                trace.append(name)

        async with runtime.TaskGroup() as tg:
            first = tg.spawn(waiter("first"))
            tg.spawn(waiter("second"))
            await runtime.testing.wait_all_tasks_blocked()
            first.abort()
            await runtime.testing.wait_all_tasks_blocked()
            limiter.release()
        return trace

    assert runtime.run(main()) == ["second"]


def test_to_thread_under_a_limiter_runs_at_most_its_tokens_at_once() -> None:
    spans: list[tuple[float, float]] = []

    def work() -> None:
        start = time.perf_counter()
        time.sleep(0.01)
        spans.append((start, time.perf_counter()))

    async def main() -> None:
        limiter = runtime.CapacityLimiter(3)
        async with runtime.TaskGroup() as tg:
            for _ in range(12):
                tg.spawn(runtime.to_thread(work, limiter=limiter))
        assert limiter.borrowed_tokens == 0

    runtime.run(main())
    # The most calls running at any one moment: at each start, count the spans open.
    overlap = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert overlap == 3


def test_by_default_a_cancelled_to_thread_waits_for_its_thread_and_returns() -> None:
    async def main() -> list[Any]:
        seen: list[Any] = []
        with runtime.move_on_after(0.01) as scope:
            seen.append(await runtime.to_thread(time.sleep, 0.1) is None)
            seen.append("returned")
            await runtime.checkpoint()
            seen.append("not reached")
        seen.append(scope.cancelled_caught)
        return seen

    started = time.perf_counter()
    assert runtime.run(main()) == [True, "returned", True]
    assert time.perf_counter() - started >= 0.1


def test_an_abandoned_call_keeps_its_token_until_its_thread_ends() -> None:
    release = threading.Event()

    async def main() -> list[int]:
        limiter = runtime.CapacityLimiter(1)
        with runtime.move_on_after(0.01):
            await runtime.to_thread(release.wait, 5, limiter=limiter, abandon_on_cancel=True)
        held = limiter.borrowed_tokens
        release.set()
        await runtime.to_thread(lambda: None, limiter=limiter)  # waits for the token
        return [held, limiter.borrowed_tokens]

    assert runtime.run(main()) == [1, 0]


def test_the_default_limiter_is_per_runtime_and_adjustable() -> None:
    async def main() -> float:
        limiter = runtime.current_default_thread_limiter()
        assert limiter is runtime.current_default_thread_limiter()
        limiter.total_tokens = 1
        await runtime.to_thread(lambda: None)
        return limiter.total_tokens

    assert runtime.run(main()) == 1
    assert runtime.run(_total()) == 40


async def _total() -> float:
    return runtime.current_default_thread_limiter().total_tokens


@needs_trio
def test_a_limiter_with_no_tokens_admits_nobody_until_raised_as_in_trio() -> None:
    async def scenario(lib: Any, wait_blocked: Any) -> list[str]:
        trace: list[str] = []
        limiter = lib.CapacityLimiter(0)

        async def borrower() -> None:
            async with limiter:
                trace.append("admitted")

        async with _group(lib) as spawn:
            spawn(borrower)
            await wait_blocked()
            trace.append(f"waiting {limiter.statistics().tasks_waiting}")
            limiter.total_tokens = 1
        return trace

    assert runtime.run(scenario(runtime, runtime.testing.wait_all_tasks_blocked)) \
        == trio.run(scenario, trio, trio.testing.wait_all_tasks_blocked) \
        == ["waiting 1", "admitted"]
    with pytest.raises(ValueError, match="total_tokens must be >= 0"):
        runtime.CapacityLimiter(-1)
