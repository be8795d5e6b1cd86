"""The traps: the only functions that ever yield a task back to the executor.

Every suspension in `runtime` goes through here (curio's ``traps.py``, trio's
``_traps.py``). A task yields one of two typed trap objects, and the run loop
(`Runner._step`) dispatches on them:

* `PARK`: "I stored my `Waker` somewhere; don't run me until it is woken."
  Resumed with ``send(None)`` when woken, or with ``throw(Cancelled)`` when a
  cancel scope around it is cancelled while it waits.
* `YIELD`: "run me again, after the others that are ready" (one trip through
  the run queue, for fairness).

A leaf awaitable (a socket wait, a sleep, a lock) does the rest: it stores
``current_task().waker`` with whoever will make it ready, calls `park`, and
removes its registration in ``finally`` so a cancelled wait leaves nothing
behind.
"""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any

from ..errors import Cancelled
from . import context


class Trap:
    """A request a task makes to the run loop. Two instances exist."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<trap {self.name}>"


PARK = Trap("PARK")
YIELD = Trap("YIELD")


@types.coroutine
def park() -> Generator[Trap, Any, None]:
    """Suspend until the task's waker is woken; a cancellation point.

    Raises `Cancelled` at once if the task is already cancelled, or when it
    is cancelled while parked. The caller must have stored the waker first,
    and must tolerate a spurious wake (check its condition again).
    """
    task = context.runner().current
    if task.cancel_pending():
        raise Cancelled(task.cancel_reason())
    yield PARK


@types.coroutine
def park_uncancellable() -> Generator[Trap, Any, None]:
    """Suspend until woken; cancellation is not delivered while parked.

    For waits that must finish whatever happens (a task group waiting for its
    children, which are themselves cancelled instead).
    """
    task = context.runner().current
    task.cancellable = False
    try:
        yield PARK
    finally:
        task.cancellable = True


@types.coroutine
def yield_now() -> Generator[Trap, Any, None]:
    """One trip through the run queue, without checking for cancellation."""
    yield YIELD


async def checkpoint() -> None:
    """Raise `Cancelled` if the task is cancelled, then yield to the others."""
    task = context.runner().current
    if task.cancel_pending():
        raise Cancelled(task.cancel_reason())
    await yield_now()


async def checkpoint_if_cancelled() -> None:
    """The cheap half of a checkpoint, with the cooperative budget.

    For operations that completed without waiting: raise `Cancelled` if the
    task is cancelled, and spend one unit of budget; only when the budget
    (tokio's 128) is spent does the task yield to the others. So a ready
    operation costs no trip through the scheduler, and no task can starve
    the rest.
    """
    runner = context.runner()
    task = runner.current
    if task.cancel_pending():
        raise Cancelled(task.cancel_reason())
    runner.budget -= 1
    if runner.budget <= 0:
        await yield_now()
