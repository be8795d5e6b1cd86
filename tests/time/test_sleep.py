"""`sleep`, `sleep_until`, `current_time` (tokio's ``tests/time_sleep.rs``).

Timing bounds are generous and one-sided where they can be: a sleep must
*never* end early (every sample is checked), while lateness depends on the
machine, so it is judged on the median of several samples.
"""

from __future__ import annotations

import math
import random
import statistics
import time

import pytest

import runtime
from runtime.executor import context
from runtime.testing import MockClock


def test_current_time_is_perf_counter() -> None:
    before = time.perf_counter()
    now = runtime.current_time()
    after = time.perf_counter()
    assert before <= now <= after


def test_current_time_never_goes_backwards() -> None:
    samples = [runtime.current_time() for _ in range(1000)]
    assert samples == sorted(samples)


def _measure_sleep(seconds: float) -> float:
    async def main() -> float:
        start = time.perf_counter()
        await runtime.sleep(seconds)
        return time.perf_counter() - start

    return runtime.run(main())  # type: ignore[no-any-return]


def test_a_10ms_sleep_ends_within_10_to_25ms() -> None:
    samples = [_measure_sleep(0.010) for _ in range(7)]
    assert min(samples) >= 0.010, f"a sleep ended early: {samples}"
    assert statistics.median(samples) <= 0.025, f"median too late: {samples}"


def test_a_sleep_is_never_early_across_many_durations() -> None:
    async def main() -> list[tuple[float, float, float]]:
        out: list[tuple[float, float, float]] = []

        async def one(d: float) -> None:
            start = time.perf_counter()
            await runtime.sleep(d)
            out.append((d, start, time.perf_counter()))

        handles = [runtime.spawn(one(d)) for d in (0.0005, 0.001, 0.002, 0.003, 0.007, 0.015)]
        for h in handles:
            await h
        return out

    for wanted, start, end in runtime.run(main()):
        # Compared as the deadline is computed: (end - start) may round one
        # ulp below ``wanted`` even when end >= start + wanted.
        assert end >= start + wanted, (wanted, end - start)


def test_sleep_until_a_deadline() -> None:
    async def main() -> tuple[float, float]:
        deadline = runtime.current_time() + 0.02
        await runtime.sleep_until(deadline)
        return deadline, runtime.current_time()

    deadline, woke = runtime.run(main())
    assert deadline <= woke < deadline + 0.5


def test_sleep_until_a_past_deadline_is_a_checkpoint() -> None:
    trace: list[str] = []

    async def other() -> None:
        trace.append("other ran")

    async def main() -> None:
        runtime.spawn(other())
        await runtime.sleep_until(runtime.current_time() - 5)
        trace.append("main after")

    runtime.run(main())
    assert trace == ["other ran", "main after"]


def test_sleep_zero_yields_to_ready_tasks() -> None:
    trace: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(3):
            trace.append(name)
            await runtime.sleep(0)

    async def main() -> None:
        a = runtime.spawn(worker("a"))
        b = runtime.spawn(worker("b"))
        await a
        await b

    runtime.run(main())
    assert trace == ["a", "b"] * 3


# -- ordering -------------------------------------------------------------------------


def test_sleepers_wake_in_deadline_order_not_spawn_order() -> None:
    # The claim is about tasks that really slept (one whose deadline had
    # already passed would take the checkpoint path instead).
    rng = random.Random(7)
    delays = [rng.uniform(0, 0.03) for _ in range(200)]
    woke: list[float] = []
    base: list[float] = []

    async def sleeper(d: float) -> None:
        await runtime.yield_now()  # main has set the base by now
        deadline = base[0] + d
        if runtime.current_time() < deadline:
            await runtime.sleep_until(deadline)
            woke.append(deadline)

    async def main() -> None:
        handles = [runtime.spawn(sleeper(d)) for d in delays]
        base.append(runtime.current_time() + 0.02)
        for h in handles:
            await h

    # Virtual time, standing still while the sleepers register: in real time a
    # loaded machine let early deadlines pass before their sleepers had run.
    runtime.run(main(), clock=MockClock(autojump_threshold=0))
    assert len(woke) == len(delays)
    assert woke == sorted(woke)


def test_equal_deadlines_wake_first_in_first_out() -> None:
    woke: list[int] = []

    async def sleeper(i: int, deadline: float) -> None:
        await runtime.sleep_until(deadline)
        woke.append(i)

    async def main() -> None:
        deadline = runtime.current_time() + 0.01
        handles = [runtime.spawn(sleeper(i, deadline)) for i in range(100)]
        for h in handles:
            await h

    # Virtual time: all 100 must be asleep before the deadline comes.
    runtime.run(main(), clock=MockClock(autojump_threshold=0))
    assert woke == list(range(100))


def test_ten_thousand_concurrent_sleepers_all_wake() -> None:
    n = 10_000
    rng = random.Random(42)
    delays = [rng.uniform(0, 0.05) for _ in range(n)]
    early: list[float] = []
    woke = 0

    async def sleeper(d: float) -> None:
        nonlocal woke
        start = runtime.current_time()
        await runtime.sleep(d)
        if runtime.current_time() - start < d:
            early.append(d)
        woke += 1

    async def main() -> float:
        start = time.perf_counter()
        handles = [runtime.spawn(sleeper(d)) for d in delays]
        for h in handles:
            await h
        assert len(context.runner().timers) == 0
        return time.perf_counter() - start

    elapsed = runtime.run(main())
    assert woke == n
    assert early == []
    assert elapsed < 10, f"10k sleepers took {elapsed:.2f}s"


# -- cancellation and bad arguments -----------------------------------------------------


def test_an_aborted_sleep_removes_its_timer() -> None:
    async def main() -> tuple[int, int]:
        handles = [runtime.spawn(runtime.sleep(60)) for _ in range(10)]
        await runtime.sleep(0)
        pending = len(context.runner().timers)
        for h in handles:
            h.abort()
        for h in handles:
            with pytest.raises(runtime.Cancelled):
                await h
        return pending, len(context.runner().timers)

    assert runtime.run(main()) == (10, 0)


def test_aborting_a_long_sleep_does_not_wait_for_its_deadline() -> None:
    async def main() -> float:
        handle = runtime.spawn(runtime.sleep(30))
        await runtime.sleep(0.001)
        start = runtime.current_time()
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle
        return runtime.current_time() - start

    assert runtime.run(main()) < 1.0


def test_sleep_inf_sleeps_until_cancelled() -> None:
    async def main() -> bool:
        handle = runtime.spawn(runtime.sleep(math.inf))
        await runtime.sleep(0.02)
        still = not handle.is_finished()
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle
        return still

    assert runtime.run(main()) is True


@pytest.mark.parametrize("bad", [-1, -0.001, -math.inf, math.nan])
def test_negative_or_nan_sleep_raises_value_error(bad: float) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="sleep"):
            await runtime.sleep(bad)

    runtime.run(main())


def test_nan_sleep_until_raises_value_error() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="NaN"):
            await runtime.sleep_until(math.nan)

    runtime.run(main())


def test_sleep_accepts_an_int_and_minus_zero() -> None:
    async def main() -> None:
        await runtime.sleep(0)
        await runtime.sleep(-0.0)

    runtime.run(main())


def test_sleep_outside_a_runtime_raises_runtime_error() -> None:
    coro = runtime.sleep(0.01)
    with pytest.raises(RuntimeError):
        coro.send(None)
    coro.close()


def _enormous_cases() -> list[object]:
    from runtime.reactor import available_backends

    params: list[object] = []
    for backend in available_backends():
        for seconds in (1e9, 1e300):
            params.append(pytest.param(backend, seconds))
    return params


@pytest.mark.parametrize(("backend", "seconds"), _enormous_cases())
def test_an_enormous_sleep_is_the_only_timer_and_can_still_be_aborted(
        backend: str, seconds: float) -> None:
    # The loop's poll() timeout is then that enormous number: the reactor
    # must clamp it, not overflow, and a thread's wake must still end it.
    async def main() -> str:
        handle = runtime.spawn(runtime.sleep(seconds))
        await runtime.to_thread(time.sleep, 0.02)  # the loop sits in poll() meanwhile
        handle.abort()
        with pytest.raises(runtime.Cancelled):
            await handle
        return "aborted"

    assert runtime.run(main(), backend=backend) == "aborted"


@pytest.mark.parametrize("bad", ["1", None, b"0"])
def test_a_sleep_of_something_not_a_number_is_a_type_error_naming_it(bad: object) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match=type(bad).__name__):
            await runtime.sleep(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=type(bad).__name__):
            await runtime.sleep_until(bad)  # type: ignore[arg-type]

    runtime.run(main())
