"""The traps: the only functions that ever yield a task back to the executor.

Every suspension in `runtime` goes through here (curio's ``traps.py``, trio's
``_traps.py``). A task yields one of three typed trap objects, and the run
loop (`Runner._step`) dispatches on them:

* `PARK`: "I stored my `Waker` somewhere; don't run me until it is woken."
  Resumed with ``send(None)`` when woken, or with ``throw(Cancelled)`` when a
  cancel scope around it is cancelled while it waits (or already was).
* `YIELD`: "run me again, after the others that are ready" (one trip through
  the run queue, for fairness).
* `CHECKPOINT`: `YIELD`, and on resumption throw `Cancelled` if the task is
  cancelled by then.

The cancellation checks live in the run loop, not here: a trap needs no
lookup of the current task, and a task that is already cancelled still goes
through the scheduler before `Cancelled` is thrown, as in trio, so even a
task that swallows `Cancelled` in a loop cannot starve the others.

A leaf awaitable (a socket wait, a sleep, a lock) does the rest: it stores
``current_task().waker`` with whoever will make it ready, awaits `park()`
(hot paths await the `PARK` trap itself, saving the call), and
removes its registration in ``finally`` so a cancelled wait leaves nothing
behind. A wait in a queue that hands things out (a lock, a channel) parks
with an abort callback, ``park(abort)`` (trio's ``wait_task_rescheduled``):
a cancel asks it first, so nothing is handed to a task that is leaving.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled
from . import context

if TYPE_CHECKING:
    from .runner import Runner


class Trap:
    """A request a task makes to the run loop; ``await trap`` makes it.

    Awaiting a trap iterates the one-element tuple ``(trap,)``: it yields
    the trap to `Runner._step` and, when the task is resumed with
    ``send(None)``, returns. A parked task thus holds a 56-byte tuple
    iterator, not a generator frame; and a ``throw(Cancelled)`` is raised
    right at the ``await``, since the iterator has no ``throw``.

    Each trap has a class of its own (`_trap` makes it) whose ``__await__``
    is that tuple's own ``__iter__``: a C method, called without a Python
    frame. Every park goes through here, and a Python ``__await__`` that
    returned ``iter((self,))`` cost a third of a microsecond more per await
    (timeit, 3.11).
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<trap {self.name}>"

    if TYPE_CHECKING:
        def __await__(self) -> Generator[Trap, None, None]: ...


def _trap(name: str) -> Trap:
    cls = type(f"{name.title()}Trap", (Trap,), {"__slots__": ()})
    trap = cls(name)
    # A bound method-wrapper has no __get__: the interpreter calls it as it
    # is, with no arguments, and it returns a fresh iterator over (trap,).
    cls.__await__ = (trap,).__iter__  # type: ignore[attr-defined]
    return trap


PARK = _trap("PARK")
YIELD = _trap("YIELD")
CHECKPOINT = _trap("CHECKPOINT")


#: An abort callback (trio's ``abort_func``): called when a cancel (or a
#: deadline) wants a task parked with it. True: the task has taken itself out
#: of whatever it waited in and may be resumed with `Cancelled`. False: it
#: was served already and will be woken anyway; the cancel, level-triggered,
#: comes at its next checkpoint.
Abort = Callable[[], bool]


def park(abort: Abort | None = None) -> Awaitable[None]:
    """``await park()``: suspend until the task's waker is woken; a cancellation point.

    Raises `Cancelled` if the task is cancelled, whether before it parked
    (after one trip through the run queue) or while parked. The caller must
    have stored the waker first, and must tolerate a spurious wake (check
    its condition again).

    With ``abort``, a cancel first asks it whether the task may be taken
    back (see `Abort`): a waiter in a queue leaves it unserved, or stays
    served. Without, the caller cleans up in ``finally`` (an IO wait, a
    sleep: nothing is handed to them that a cancel could lose).
    """
    if abort is None:
        return PARK
    return _park_abortable(abort)


@types.coroutine
def _park_abortable(abort: Abort) -> Generator[Trap, Any, None]:
    # Runner.deliver_cancel and the PARK check in Runner._step read task.abort.
    task = context.runner().current
    task.abort = abort
    try:
        yield PARK
    finally:
        task.abort = None


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


def yield_now() -> Trap:
    """``await yield_now()``: one trip through the run queue, no cancellation check."""
    return YIELD


def checkpoint() -> Trap:
    """``await checkpoint()``: yield to the others; `Cancelled` on return if cancelled."""
    return CHECKPOINT


async def checkpoint_if_cancelled() -> None:
    """The cheap half of a checkpoint, with the cooperative budget.

    For operations that completed without waiting: raise `Cancelled` if the
    task is cancelled, and spend one unit of budget; only when the budget
    (tokio's 128) is spent does the task yield to the others. So a ready
    operation costs no trip through the scheduler, and no task can starve
    the rest.
    """
    runner = context.runner()
    if spend_budget(runner):
        await budget_spent_or_cancelled(runner)


def spend_budget(runner: Runner) -> bool:
    """The fast half of `checkpoint_if_cancelled`, a plain call (no coroutine).

    Spends one unit of the running task's budget; True when the task must
    take the slow half, `budget_spent_or_cancelled` (the budget is spent, or
    some cancel scope is cancelled). Hot paths (`ReadySource`, `RingSource`,
    a channel's send and recv) hold the runner already and call this, so a
    ready operation makes no coroutine:
    ``if spend_budget(runner): await budget_spent_or_cancelled(runner)``.
    """
    runner.budget -= 1
    return runner.budget <= 0 or runner.live_cancels != 0


async def budget_spent_or_cancelled(runner: Runner) -> None:
    """The slow half of `checkpoint_if_cancelled`, when `spend_budget` says so."""
    if runner.budget <= 0:
        # Spent before the cancel check, so that even a task that swallows
        # Cancelled around ready operations yields now and then.
        await checkpoint()
        return
    task = runner.current
    if task.cancel_pending():
        raise Cancelled(task.cancel_reason())
