"""The executor: tasks stepped with ``send()``, wakers, the run loop, drivers.

Uses only `runtime.reactor`'s public API below it; knows nothing of sockets.
"""

from .cancel import CancelScope, fail_after, fail_at, move_on_after, move_on_at
from .entry import run, spawn
from .limiter import CapacityLimiter, CapacityLimiterStatistics
from .reentry import RuntimeToken, current_token
from .runner import Runner
from .signal_receiver import SignalReceiver, open_signal_receiver
from .task import JoinHandle, Task, Waker
from .task_group import TaskGroup, TaskStatus
from .threads import current_default_thread_limiter, to_thread

__all__ = [
    "CancelScope",
    "CapacityLimiter",
    "CapacityLimiterStatistics",
    "JoinHandle",
    "Runner",
    "RuntimeToken",
    "SignalReceiver",
    "Task",
    "TaskGroup",
    "TaskStatus",
    "Waker",
    "current_default_thread_limiter",
    "current_token",
    "fail_after",
    "fail_at",
    "move_on_after",
    "move_on_at",
    "open_signal_receiver",
    "run",
    "spawn",
    "to_thread",
]
