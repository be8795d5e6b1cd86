"""The node every wait queue holds: `Waiter`, and how queues hand out to them.

Used by `runtime.sync`, `runtime.channel` and the executor's own
`CapacityLimiter` (see `runtime.sync`'s docstring for how a primitive
waits, and the two rules that make a cancelled wait safe).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .task import Task
from .traps import park

#: Waiter states. WAITING → DONE (served), GONE (left the queue unserved),
#: FAILED (woken with an error in ``value``, e.g. the channel was closed).
WAITING, DONE, GONE, FAILED = "waiting", "done", "gone", "failed"


class Waiter:
    """One parked task in a queue: the node every primitive's queue holds.

    ``value`` carries what is exchanged (a message to send, a message
    received, or the exception of a ``FAILED`` waiter); ``owner`` is the
    handle the wait belongs to (a channel end closes only its own waits).
    """

    __slots__ = ("owner", "state", "task", "value", "waker")

    def __init__(self, task: Task | None, waker: Any, value: Any = None, owner: Any = None) -> None:
        self.task = task
        self.waker = waker
        self.value = value
        self.owner = owner
        self.state = WAITING

    def claim(self) -> bool:
        """Take this waiter to serve it; False if it is leaving (mark it ``GONE``)."""
        task = self.task
        if task is not None and task.cancellation_on_its_way():
            # The runner will throw Cancelled into it when it resumes (a
            # delivered Cancelled, or a re-check that will find the scope
            # cancelled): trio's abort callback would already have removed
            # it from the queue.
            self.state = GONE
            return False
        return self.state is WAITING

    def __repr__(self) -> str:
        return f"<Waiter {self.state} {self.task!r}>"


def take_first(queue: deque[Waiter]) -> Waiter | None:
    """Pop the first waiter that can be served, dropping those that are leaving."""
    while queue:
        waiter = queue.popleft()
        if waiter.claim():
            return waiter
    return None


def forget(queue: deque[Waiter], waiter: Waiter) -> None:
    """Remove an unserved waiter (O(n); only cancellation pays it)."""
    if waiter.state is WAITING:
        waiter.state = GONE
        try:
            queue.remove(waiter)
        except ValueError:
            pass  # already popped by someone who found it leaving


def waiting(queue: deque[Waiter]) -> int:
    """How many waiters in ``queue`` still wait (statistics' ``tasks_waiting``)."""
    return sum(1 for waiter in queue if waiter.state is WAITING)


async def wait_served(queue: deque[Waiter], waiter: Waiter, give_back: Callable[[], None]) -> None:
    """Queue ``waiter`` and park until it is served; a cancellation point.

    If the wait ends in an exception (a cancellation) after the waiter was
    served, ``give_back`` passes on what it was given (the rule of
    `runtime.sync`'s docstring); if before, the waiter leaves the queue.
    """
    queue.append(waiter)
    try:
        while waiter.state is WAITING:
            await park()
    except BaseException:
        if waiter.state is DONE:
            give_back()
        else:
            forget(queue, waiter)
        raise
