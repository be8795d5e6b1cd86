"""`runtime.testing.MockClock`: virtual time, side by side with trio's MockClock."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

import runtime
from runtime.io import TcpStream
from runtime.testing import MockClock

pytestmark = pytest.mark.timeout(30)


def both(program: Callable[[Any], Awaitable[list[tuple[float, str]]]],
         **clock: float) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """``program(api)`` under trio's MockClock and under runtime's, same arguments."""
    trio_trace = trio.run(program, trio, clock=trio.testing.MockClock(**clock))
    ours = runtime.run(program(runtime), clock=MockClock(**clock))
    return trio_trace, ours


async def sleepers(api: Any) -> list[tuple[float, str]]:
    trace: list[tuple[float, str]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await api.sleep(seconds)
        trace.append((api.current_time(), name))

    start = api.current_time()
    if api is trio:
        async with trio.open_nursery() as group:
            for name, seconds in [("c", 30), ("a", 10), ("b", 20), ("d", 3600)]:
                group.start_soon(sleeper, name, seconds)
    else:
        async with runtime.TaskGroup() as tg:
            for name, seconds in [("c", 30), ("a", 10), ("b", 20), ("d", 3600)]:
                tg.spawn(sleeper(name, seconds))
    return [(round(t - start, 6), name) for t, name in trace]


def test_autojump_runs_an_hour_of_sleeps_at_once_in_trio_s_order() -> None:
    real = time.perf_counter()
    trio_trace, ours = both(sleepers, autojump_threshold=0)
    assert ours == trio_trace == [(10, "a"), (20, "b"), (30, "c"), (3600, "d")]
    assert time.perf_counter() - real < 5  # not an hour: virtual time jumped


async def deadlines(api: Any) -> list[tuple[float, str]]:
    trace: list[tuple[float, str]] = []
    start = api.current_time()
    with api.move_on_after(5) as scope:
        await api.sleep(100)
    trace.append((api.current_time() - start, f"moved on {scope.cancelled_caught}"))
    try:
        with api.fail_after(7):
            await api.sleep(math.inf)
    except (TimeoutError, getattr(api, "TooSlowError", TimeoutError)):
        trace.append((api.current_time() - start, "failed after"))
    await api.sleep_until(start + 100)
    trace.append((api.current_time() - start, "until 100"))
    return trace


def test_deadlines_and_sleep_until_follow_virtual_time_as_in_trio() -> None:
    trio_trace, ours = both(deadlines, autojump_threshold=0)
    assert ours == trio_trace == [(5, "moved on True"), (12, "failed after"), (100, "until 100")]


def test_a_clock_standing_still_moves_only_when_jumped() -> None:
    clock = MockClock()
    trace: list[tuple[float, str]] = []

    async def main() -> None:
        async def sleeper() -> None:
            await runtime.sleep(10)
            trace.append((runtime.current_time(), "woke"))

        async with runtime.TaskGroup() as tg:
            tg.spawn(sleeper())
            await runtime.testing.wait_all_tasks_blocked()
            trace.append((runtime.current_time(), "jump 9"))
            clock.jump(9)
            await runtime.testing.wait_all_tasks_blocked()
            trace.append((runtime.current_time(), "jump 1"))
            clock.jump(1)

    runtime.run(main(), clock=clock)
    assert trace == [(0.0, "jump 9"), (9.0, "jump 1"), (10.0, "woke")]


def test_a_clock_with_a_rate_runs_that_many_times_faster() -> None:
    async def main() -> float:
        start = time.perf_counter()
        await runtime.sleep(50)  # 50 virtual seconds at 1000x: 50 ms of real time
        return time.perf_counter() - start

    took = runtime.run(main(), clock=MockClock(rate=1000))
    assert 0.04 < took < 5


def test_an_io_timeout_follows_the_virtual_clock() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        async def main() -> tuple[float, bool]:
            async with await TcpStream.connect("127.0.0.1", port) as stream:
                start = runtime.current_time()
                with runtime.move_on_after(300) as scope:
                    await stream.read()  # the peer never writes
                return runtime.current_time() - start, scope.cancelled_caught

        assert runtime.run(main(), clock=MockClock(autojump_threshold=0)) == (300, True)
        listener.accept()[0].close()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: MockClock(rate=-1), "rate must be finite and >= 0, got -1.0"),
    (lambda: MockClock(rate=math.nan), "rate must be finite and >= 0, got nan"),
    (lambda: MockClock(autojump_threshold=-0.5), "autojump_threshold must be >= 0, got -0.5"),
    (lambda: MockClock().jump(-1), "can only jump forward, got -1.0"),
])
def test_bad_clock_settings_are_value_errors_naming_the_value(
        make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make()


def test_something_that_is_not_a_clock_is_refused_by_name() -> None:
    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(TypeError, match="clock must be a runtime Clock"):
        runtime.run(coro, clock=object())  # type: ignore[arg-type]
