"""How long the run loop may sleep in the reactor, when no task is ready.

Three things bound the sleep (`plan_wait`):

* the earliest timer's deadline, turned into seconds by the clock (a
  virtual `Clock` says how long real time its deadline is away: forever,
  ``inf``, while it stands still);
* a virtual clock's *autojump* (trio's ``autojump_threshold``): blocked
  that long in real time with a timer pending, the clock jumps to the
  deadline instead of waiting for it;
* ``wait_all_tasks_blocked``'s shortest *cushion*: if nothing becomes ready
  within it, every task is blocked and its waiters are woken.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .clock import Clock
from .time_driver import TimerHeap


class WaitPlan(NamedTuple):
    #: The reactor's timeout in seconds; None: until IO or a wake.
    timeout: float | None
    #: The earliest timer's deadline (the clock's time), or None.
    deadline: float | None
    #: Not None: the sleep is the autojump's; jump the clock to ``deadline``
    #: if it ends with nothing ready.
    jump: float | None
    #: Not None: the sleep is this wait_all_tasks_blocked cushion's.
    idle: float | None


def plan_wait(timers: TimerHeap, clock: Callable[[], float], custom_clock: Clock | None,
              idle_waiters: list[list[Any]]) -> WaitPlan:
    """The sleep for a turn with no task ready (see the module doc)."""
    timeout = None
    deadline = None
    if timers.entries:
        deadline = timers.next_deadline()
        if deadline is not None:
            timeout = (max(0.0, deadline - clock()) if custom_clock is None
                       else custom_clock.deadline_to_sleep_time(deadline))
    threshold: float = getattr(custom_clock, "autojump_threshold", math.inf)
    jump: float | None = threshold
    if deadline is not None and threshold < (math.inf if timeout is None else timeout):
        timeout = threshold
    else:
        jump = None
        if timeout == math.inf:
            timeout = None  # a virtual clock standing still: wait for IO or a wake
    idle: float | None = None
    if idle_waiters:
        # Sleep no longer than the shortest cushion.
        idle = idle_waiters[0][0]
        if timeout is None or idle < timeout:
            timeout, jump = idle, None
        else:
            idle = None
    return WaitPlan(timeout, deadline, jump, idle)
