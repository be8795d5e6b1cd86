"""Regression: a task woken while it runs, which then returns, is not stepped again.

A primitive can wake the task that is running (a receiver that drains a
thread's inbox and hands the message to itself). The wake queues the task;
if it then finishes, the run loop must drop that stale entry instead of
stepping a finished coroutine ("cannot reuse already awaited coroutine",
and the task counted as finished twice).
"""

from __future__ import annotations

import pytest

import runtime
from runtime.lowlevel import current_task


@pytest.mark.timeout(10)  # before the fix: a hang (live_tasks counted down twice)
def test_a_task_that_wakes_itself_and_returns_finishes_once() -> None:
    async def selfish() -> str:
        current_task().waker.wake()
        return "done"

    async def main() -> list[str]:
        handles = [runtime.spawn(selfish()) for _ in range(3)]
        results = [await h for h in handles]
        await runtime.sleep(0.001)  # the stale entries come round and are dropped
        return results

    assert runtime.run(main()) == ["done"] * 3
