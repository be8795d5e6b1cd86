"""The executor: tasks stepped with ``send()``, wakers, the run loop, drivers.

Uses only `runtime.reactor`'s public API below it; knows nothing of sockets.
"""

from .cancel import CancelScope, fail_after, fail_at, move_on_after, move_on_at
from .runner import Runner, run, spawn
from .task import JoinHandle, Task, Waker
from .task_group import TaskGroup, TaskStatus
from .threads import to_thread

__all__ = [
    "CancelScope",
    "JoinHandle",
    "Runner",
    "Task",
    "TaskGroup",
    "TaskStatus",
    "Waker",
    "fail_after",
    "fail_at",
    "move_on_after",
    "move_on_at",
    "run",
    "spawn",
    "to_thread",
]
