"""The wait queue every primitive builds on: `Waiter` nodes in a FIFO ``deque``.

Used by `runtime.sync`, `runtime.channels` and the executor's own
`CapacityLimiter` (trio's ``_core/_parking_lot.py``, tokio's
``sync/batch_semaphore.rs``: a FIFO list of nodes holding wakers).

A task that must wait puts a `Waiter` (itself as the waker, a state, room for
a value) at the back of the queue and parks with the waiter's `abort` as its
abort callback (``park(waiter.abort)``). Whoever serves it pops it from the
front with `take_first`, *sets its state first* and only then wakes it: the
structure is consistent before anyone runs (tokio's rule). The waiter loops
on its state, not on the wake: a wake is a hint (it may be a stale one from
an earlier wait), the state is the truth.

A cancel that wants a parked waiter calls its `abort`: an unserved waiter
leaves the queue at once and the task gets `Cancelled`, so nothing is ever
handed to a task that is leaving; a served one stays served (it is woken
anyway) and the cancel, which is level-triggered, comes at its next
checkpoint. So a cancelled ``acquire`` never holds a lock, a cancelled
``recv`` never loses a message, and no one has to give anything back.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any

from .task import Task
from .traps import PARK


class WaiterState(enum.Enum):
    """Where a `Waiter` is in its life; it starts `WAITING` and ends in one of the others."""

    WAITING = "waiting"  # in its queue, unserved
    DONE = "done"  # served: given what it waited for (a lock, a message, room)
    GONE = "gone"  # left unserved (its wait was aborted, or a thread gave up)
    FAILED = "failed"  # woken with an error in ``value`` (the channel was closed)


# The members as plain names, for the hot paths' ``is`` tests.
WAITING = WaiterState.WAITING
DONE = WaiterState.DONE
GONE = WaiterState.GONE
FAILED = WaiterState.FAILED


class Waiter:
    """One parked task in a queue: the node every primitive's queue holds.

    ``queue`` is the queue it waits in (`Condition.notify` moves it to the
    lock's); ``value`` carries what is exchanged (a message to send, a
    message received, or the exception of a `FAILED` waiter); ``owner`` is
    the handle the wait belongs to (a channel end closes only its own waits).
    """

    __slots__ = ("owner", "queue", "state", "task", "value", "waker")

    def __init__(self, queue: deque[Waiter], task: Task | None, waker: Any, value: Any = None,
                 owner: Any = None) -> None:
        self.queue = queue
        self.task = task
        self.waker = waker
        self.value = value
        self.owner = owner
        self.state = WAITING

    def claim(self) -> bool:
        """May this waiter be served now? (A parked thread's may have given up.)"""
        return self.state is WAITING

    def abort(self) -> bool:
        """The abort callback of the task's park: leave the queue unserved.

        True if it left (the task may be resumed with `Cancelled`); False if
        it was served already and will be woken anyway.
        """
        if self.state is not WAITING:
            return False
        self.state = GONE
        self.queue.remove(self)  # O(n); only cancellation pays it
        return True

    def __repr__(self) -> str:
        return f"<Waiter {self.state.value} {self.task!r}>"


def take_first(queue: deque[Waiter]) -> Waiter | None:
    """Pop the first waiter that can be served (skipping threads that gave up)."""
    while queue:
        waiter = queue.popleft()
        if waiter.claim():
            return waiter
    return None


def waiting(queue: deque[Waiter]) -> int:
    """How many waiters in ``queue`` still wait (statistics' ``tasks_waiting``)."""
    return sum(1 for waiter in queue if waiter.state is WAITING)


async def wait_served(waiter: Waiter) -> None:
    """Queue ``waiter`` at the back of its queue and park until it is served.

    A cancellation point: a cancel takes the waiter out of the queue unserved
    (`Waiter.abort`), or, if it was served first, lets the wait return and
    comes at the next checkpoint.
    """
    waiter.queue.append(waiter)
    task = waiter.task
    assert task is not None  # a thread's waiter (task None) waits on its own
    # park(waiter.abort), written out: the abort callback is set once per
    # wait instead of a generator made per park (traps._park_abortable).
    # Every queued wait goes through here or through a channel's recv, which
    # writes it out the same way: micro.py's pingpong parks once per message,
    # and the generator cost it 2,650 instructions a message (24,266 ->
    # 21,616, callgrind).
    task.abort = waiter.abort
    try:
        while waiter.state is WAITING:
            await PARK
    except BaseException:
        waiter.abort()  # not a cancel (those abort first): the coroutine was closed
        raise
    finally:
        task.abort = None
