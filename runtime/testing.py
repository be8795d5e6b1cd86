"""Helpers for tests of code that runs on `runtime` (trio's ``trio.testing``)."""

from __future__ import annotations

import bisect
import itertools
import math

from .executor import context
from .executor.traps import park

_order = itertools.count()


async def wait_all_tasks_blocked(cushion: float = 0.0) -> None:
    """Return once every other task is blocked, and has stayed so for ``cushion`` s.

    Blocked means parked with nothing about to wake it: the run queue empty
    and no IO event or timer arriving within ``cushion`` seconds. For tests
    that must know the others have reached their waits ("is it stuck?").
    Several waiters with the same cushion wake together; one with a longer
    cushion wakes after those with a shorter one (trio's rule). A
    cancellation point.
    """
    cushion = float(cushion)
    if not cushion >= 0 or cushion == math.inf:
        raise ValueError(f"wait_all_tasks_blocked() needs a finite cushion >= 0, got {cushion!r}")
    runner = context.runner()
    waiter = [cushion, next(_order), runner.current, False]
    bisect.insort(runner.idle_waiters, waiter, key=lambda w: (w[0], w[1]))
    try:
        while not waiter[3]:
            await park()
    finally:
        if not waiter[3]:
            runner.idle_waiters.remove(waiter)


__all__ = ["wait_all_tasks_blocked"]
