"""The steps the run loop takes while something watches it.

`Runner.step` is what the run loop calls for each task. It is the bare
`Runner._step` unless the run is watched, then one of these (bound to the
runner with ``functools.partial``), so that an unwatched run pays no test
for them on its hot path:

* `debug_step` (``run(debug=True)`` or ``slow_step=``): logs a step that
  held the loop longer than ``runner.slow_step``, naming the task and the
  lines it ran from and to (a blocking call in async code);
* `instrumented_step` (an instrument is installed): ``before_task_step`` and
  ``after_task_step`` around the step, and the ``task_scheduled`` that the
  step's own re-queue (a checkpoint) does not report.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from .task_dump import code_location

if TYPE_CHECKING:
    from .runner import Runner
    from .task import Task

logger = logging.getLogger("runtime")


def debug_step(runner: Runner, task: Task) -> None:
    # Real time, whatever the runner's clock: a virtual clock standing
    # still would hide a step that blocks.
    resumed_at = code_location(task.coro)
    start = time.perf_counter()
    runner._step(task)
    took = time.perf_counter() - start
    if took > runner.slow_step:
        stopped_at = "its end" if task.finished else code_location(task.coro)
        logger.warning("task %r held the loop %.3f s in one step, from %s to %s "
                       "(a blocking call in async code?)",
                       task.name, took, resumed_at, stopped_at)


def instrumented_step(runner: Runner, task: Task) -> None:
    instruments, told = runner.instruments, runner.told
    instruments.call("before_task_step", task)
    told.discard(task)  # the wake that queued it was told already
    try:
        if runner.debug:
            debug_step(runner, task)
        else:
            runner._step(task)
    finally:
        # A checkpoint re-queues its task without telling instruments (that
        # path stays free of flag tests); say it here. A wake during the
        # step went through wake_here, which told them itself.
        if task.scheduled and task not in told:
            instruments.call("task_scheduled", task)
        told.discard(task)
        instruments.call("after_task_step", task)
