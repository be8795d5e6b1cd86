"""Time: `sleep`, `sleep_until`, `current_time` on the runner's clock."""

from __future__ import annotations

import math
import time as _time

from .executor import context
from .executor.time_driver import fired
from .executor.traps import CHECKPOINT, checkpoint, park


def current_time() -> float:
    """The runtime's clock in seconds (`time.perf_counter`; deadlines use it too).

    On Linux that is ``CLOCK_MONOTONIC``, as `time.monotonic` is; on Windows
    `time.monotonic` ticks every 15.6 ms and `time.perf_counter` every 100 ns
    (trio's clock is perf_counter for the same reason). A runner given a
    ``clock`` (`runtime.testing.MockClock`) reads that one instead.
    """
    runner = context.runner_or_none()
    return _time.perf_counter() if runner is None else runner.clock()


async def sleep_until(deadline: float) -> None:
    """Sleep until `current_time()` reaches ``deadline``; a cancellation point."""
    if not isinstance(deadline, (int, float)):
        raise TypeError(f"sleep_until() needs a number, got {type(deadline).__name__}")
    if math.isnan(deadline):
        raise ValueError("sleep_until() deadline must not be NaN")
    runner = context.runner()
    if deadline <= runner.clock():
        await checkpoint()
        return
    if deadline == math.inf:
        while True:
            await park()  # woken only to be cancelled; a spurious wake sleeps on
    entry = runner.timers.insert(deadline, runner.current.waker.wake)
    try:
        while not fired(entry):
            await park()
    finally:
        runner.timers.cancel(entry)


async def sleep(seconds: float) -> None:
    """Sleep ``seconds`` (``0`` is a checkpoint: check cancellation and yield).

    Negative or NaN durations raise `ValueError`; ``math.inf`` sleeps until
    cancelled.
    """
    if not isinstance(seconds, (int, float)):
        raise TypeError(f"sleep() needs a number of seconds, got {type(seconds).__name__}")
    if seconds == 0:
        # The common "let the others run" idiom: straight to the checkpoint,
        # without a deadline, a clock read or a second coroutine.
        await CHECKPOINT  # checkpoint(), without the call
        return
    if not seconds >= 0:
        raise ValueError(f"sleep() needs a duration >= 0 seconds, got {seconds!r}")
    await sleep_until(context.runner().clock() + seconds)
