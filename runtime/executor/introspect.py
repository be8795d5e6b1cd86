"""Questions a task may ask about itself and the runtime (trio's ``lowlevel``).

`current_task`, `running_tasks`, `current_effective_deadline`,
`check_cancelled`. None of them yields: they read the cancel-scope tree
(`cancel.py`), which already holds every live task, so knowing them costs
the run loop nothing.
"""

from __future__ import annotations

import math

from ..errors import Cancelled
from . import context
from .cancel import CancelScope
from .task import Task


def current_task() -> Task:
    """The `Task` running now: ``name``, ``id``, ``parent``; `RuntimeError` outside one."""
    task = context.runner().current
    if task is None:
        raise RuntimeError("current_task() called outside a task")
    return task


def running_tasks() -> list[Task]:
    """Every task of this runtime that has not finished (parked, ready or running)."""
    found: list[Task] = []
    stack: list[CancelScope] = [context.runner().root_scope]
    while stack:
        scope = stack.pop()
        found.extend(scope._tasks)
        stack.extend(scope._children)
    return sorted(found, key=lambda task: task.id)


def current_effective_deadline() -> float:
    """The deadline that applies to the current task (trio's function of that name).

    The earliest deadline of the cancel scopes around it, up to the first
    shield; ``-inf`` if it is cancelled already, ``inf`` if none has one.
    """
    deadline = math.inf
    scope: CancelScope | None = current_task().scope
    while scope is not None:
        if scope.cancel_called:
            return -math.inf
        deadline = min(deadline, scope._deadline)
        if scope.shield:
            break
        scope = scope.parent
    return deadline


def check_cancelled() -> None:
    """Raise `Cancelled` if the current task is cancelled; never yields.

    For a long synchronous stretch that wants to stop early without giving
    the other tasks a turn (`checkpoint` does both).
    """
    task = current_task()
    if task.cancel_pending():
        raise Cancelled(task.cancel_reason())
