"""Task synchronisation: `Lock`, `Event`, `Semaphore`, `Condition`.

How a primitive waits
---------------------
Every wait in this module and in `runtime.channels` is the same leaf, from
``executor/waiter.py``: a `Waiter` at the back of a FIFO queue, parked with
its abort callback (``park(waiter.abort)``). Whoever serves a waiter pops it
from the front, sets its state first and only then wakes it.

Fairness
--------
Like trio's, `Lock` and `Semaphore` are FIFO-fair: ``release`` *hands*
ownership to the first waiter instead of marking the lock free and letting
the woken task race for it. A task that calls ``acquire`` in between finds
the lock owned and queues behind. The price is a "lock convoy" under heavy
contention (every hand-off is a trip through the scheduler); the gain is
that no waiter starves and the order is the order of arrival, which the
side-by-side tests check against trio.

Cancellation
------------
A cancelled ``acquire`` never holds the lock: the cancel calls the parked
waiter's abort callback, which takes it out of the queue before anything
can be handed to it (trio's abort function), and the next waiter gets the
lock. A waiter served before the cancel came keeps what it was given; the
cancellation, level-triggered, is raised at its next checkpoint.

A wait is a cancellation point; an operation that can complete at once
first calls `checkpoint_if_cancelled` (raise if cancelled, spend the
cooperative budget), so a cancelled task never completes it, and a ready
operation costs no trip through the scheduler.

Sources: trio ``_sync.py`` (Lock, Semaphore, Condition's repark) and
``_core/_parking_lot.py``; tokio ``sync/batch_semaphore.rs`` (a FIFO wait
list of nodes holding wakers).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import TracebackType

from .errors import WouldBlock
from .executor.task import Task, Waker
from .executor.traps import checkpoint_if_cancelled, park, park_uncancellable
from .executor.waiter import DONE, WAITING, Waiter, take_first, wait_served, waiting
from .lowlevel import current_task

__all__ = [
    "Condition",
    "ConditionStatistics",
    "Event",
    "EventStatistics",
    "Lock",
    "LockStatistics",
    "Semaphore",
    "SemaphoreStatistics",
]

@dataclass(frozen=True)
class LockStatistics:
    """`Lock.statistics`: is it held, by which task, how many tasks wait for it."""

    locked: bool
    owner: Task | None
    tasks_waiting: int


@dataclass(frozen=True)
class EventStatistics:
    """`Event.statistics`: how many tasks wait for the flag."""

    tasks_waiting: int


@dataclass(frozen=True)
class SemaphoreStatistics:
    """`Semaphore.statistics`: how many tasks wait for a permit."""

    tasks_waiting: int


@dataclass(frozen=True)
class ConditionStatistics:
    """`Condition.statistics`: tasks waiting for a notify, and the lock's statistics."""

    tasks_waiting: int
    lock_statistics: LockStatistics


class _AsyncContext:
    """``async with x:`` means ``await x.acquire()`` … ``x.release()``."""

    __slots__ = ()

    async def acquire(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()


class Lock(_AsyncContext):
    """A FIFO-fair mutual-exclusion lock for tasks (trio's ``Lock``).

    ``async with lock: ...``. Ownership belongs to a task: releasing a lock
    you do not hold, or acquiring one you already hold, is a `RuntimeError`.
    Waiters get the lock in arrival order; a cancelled ``acquire`` leaves
    the queue and never holds the lock.
    """

    __slots__ = ("_owner", "_waiters")

    def __init__(self) -> None:
        self._owner: Task | None = None
        self._waiters: deque[Waiter] = deque()

    def locked(self) -> bool:
        return self._owner is not None

    def try_acquire(self) -> None:
        """Take the lock if it is free and nobody queues for it; else `WouldBlock`."""
        task = current_task()
        if self._owner is None and not self._waiters:
            self._owner = task
            return
        if self._owner is task:
            raise RuntimeError(f"task {task.name!r} tried to acquire a Lock it already holds")
        raise WouldBlock("the Lock is held by another task")

    async def acquire(self) -> None:
        """Wait until the lock is ours; a cancellation point."""
        await checkpoint_if_cancelled()
        task = current_task()
        if self._owner is None and not self._waiters:
            self._owner = task
            return
        if self._owner is task:
            raise RuntimeError(f"task {task.name!r} tried to acquire a Lock it already holds")
        await wait_served(Waiter(self._waiters, task, task))

    async def _acquire_uncancellable(self, task: Task) -> None:
        # For Condition.wait's cancel path: it must hold the lock again before
        # it raises (trio re-acquires under a shield).
        if self._owner is None and not self._waiters:
            self._owner = task
            return
        waiter = Waiter(self._waiters, task, task)
        self._waiters.append(waiter)
        while waiter.state is WAITING:
            await park_uncancellable()

    def release(self) -> None:
        """Give the lock to the first waiter, or mark it free (never blocks)."""
        task = current_task()
        if task is not self._owner:
            holder = "nobody" if self._owner is None else f"task {self._owner.name!r}"
            raise RuntimeError(
                f"task {task.name!r} released a Lock it does not hold (held by {holder})")
        self._hand_on()

    def _hand_on(self) -> None:
        waiter = take_first(self._waiters)
        if waiter is None:
            self._owner = None
        else:
            self._owner = waiter.task
            waiter.state = DONE
            waiter.waker.wake()

    def statistics(self) -> LockStatistics:
        return LockStatistics(self._owner is not None, self._owner, waiting(self._waiters))

    def __repr__(self) -> str:
        owner = "unlocked" if self._owner is None else f"held by {self._owner.name!r}"
        return f"<Lock {owner}, {len(self._waiters)} waiting>"


class Event:
    """A flag tasks can wait for (trio's ``Event``): once set, it stays set."""

    __slots__ = ("_flag", "_wakers")

    def __init__(self) -> None:
        self._flag = False
        self._wakers: list[Waker] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiting task (idempotent)."""
        if self._flag:
            return
        self._flag = True
        wakers, self._wakers = self._wakers, []
        for waker in wakers:
            waker.wake()

    async def wait(self) -> None:
        """Return once the flag is set; a cancellation point."""
        if self._flag:
            await checkpoint_if_cancelled()
            return
        waker = current_task().waker
        self._wakers.append(waker)
        try:
            while not self._flag:
                await park()
        finally:
            if not self._flag:
                self._wakers.remove(waker)

    def statistics(self) -> EventStatistics:
        return EventStatistics(len(self._wakers))

    def __repr__(self) -> str:
        return f"<Event {'set' if self._flag else 'unset'}, {len(self._wakers)} waiting>"


class Semaphore(_AsyncContext):
    """A counter of permits, FIFO-fair (trio's ``Semaphore``).

    ``acquire`` takes a permit, waiting while there are none; ``release``
    hands one to the first waiter or returns it to the pool. With
    ``max_value``, releasing past it is a `ValueError` (a bounded semaphore).
    Unlike a `Lock`, any task may release.
    """

    __slots__ = ("_max_value", "_value", "_waiters")

    def __init__(self, initial_value: int, max_value: int | None = None) -> None:
        if not isinstance(initial_value, int) or initial_value < 0:
            raise ValueError(f"Semaphore needs an int initial_value >= 0, got {initial_value!r}")
        if max_value is not None and (not isinstance(max_value, int) or max_value < initial_value):
            raise ValueError(
                f"Semaphore max_value must be an int >= initial_value ({initial_value}), "
                f"got {max_value!r}")
        self._value = initial_value
        self._max_value = max_value
        self._waiters: deque[Waiter] = deque()

    @property
    def value(self) -> int:
        return self._value

    @property
    def max_value(self) -> int | None:
        return self._max_value

    def try_acquire(self) -> None:
        """Take a permit if one is free; else `WouldBlock`."""
        if self._value > 0:
            self._value -= 1
        else:
            raise WouldBlock("the Semaphore has no permit free")

    async def acquire(self) -> None:
        """Wait for a permit and take it; a cancellation point."""
        await checkpoint_if_cancelled()
        # A free permit implies an empty queue: release() hands permits to
        # waiters before it returns one to the pool.
        if self._value > 0:
            self._value -= 1
            return
        task = current_task()
        await wait_served(Waiter(self._waiters, task, task))

    def release(self) -> None:
        """Return a permit: to the first waiter if any (never blocks)."""
        if self._max_value is not None and self._value >= self._max_value:
            raise ValueError(
                f"Semaphore released too many times (max_value is {self._max_value})")
        self._hand_on()

    def _hand_on(self) -> None:
        waiter = take_first(self._waiters)
        if waiter is None:
            self._value += 1
        else:
            waiter.state = DONE
            waiter.waker.wake()

    def statistics(self) -> SemaphoreStatistics:
        return SemaphoreStatistics(waiting(self._waiters))

    def __repr__(self) -> str:
        bound = "" if self._max_value is None else f"/{self._max_value}"
        return f"<Semaphore {self._value}{bound}, {len(self._waiters)} waiting>"


class Condition(_AsyncContext):
    """Wait for a state change under a `Lock` (trio's ``Condition``).

    ``async with cond: while not ready(): await cond.wait()``. ``notify``
    moves waiters to the lock's queue (trio's "repark"): they wake holding
    the lock, in the order they waited, behind tasks already queued for it.
    """

    __slots__ = ("_lock", "_waiters")

    def __init__(self, lock: Lock | None = None) -> None:
        if lock is None:
            lock = Lock()
        elif not isinstance(lock, Lock):
            raise TypeError(f"Condition needs a runtime.Lock, got {type(lock).__name__}")
        self._lock = lock
        self._waiters: deque[Waiter] = deque()

    @property
    def lock(self) -> Lock:
        return self._lock

    def locked(self) -> bool:
        return self._lock.locked()

    def try_acquire(self) -> None:
        self._lock.try_acquire()

    async def acquire(self) -> None:
        await self._lock.acquire()

    def release(self) -> None:
        self._lock.release()

    async def wait(self) -> None:
        """Release the lock, wait for a notify, re-acquire; a cancellation point.

        If cancelled, it still re-acquires the lock before raising, so
        ``async with cond: await cond.wait()`` always releases a held lock.
        """
        task = current_task()
        lock = self._lock
        if lock._owner is not task:
            raise RuntimeError(f"task {task.name!r} called Condition.wait() without the lock")
        waiter = Waiter(self._waiters, task, task)
        lock.release()
        self._waiters.append(waiter)
        try:
            # Served (DONE) only by the lock, after a notify moved us there.
            while waiter.state is WAITING:
                await park(waiter.abort)  # out of whichever queue it is in
        except BaseException:
            if waiter.state is not DONE:
                waiter.abort()  # a cancel did already; the coroutine closed did not
                await lock._acquire_uncancellable(task)
            raise

    def notify(self, n: int = 1) -> None:
        """Move up to ``n`` waiters to the lock's queue. Needs the lock held."""
        self._check_owner("notify")
        lock_queue = self._lock._waiters
        for _ in range(n):
            waiter = take_first(self._waiters)
            if waiter is None:
                break
            waiter.queue = lock_queue
            lock_queue.append(waiter)

    def notify_all(self) -> None:
        """Move every waiter to the lock's queue. Needs the lock held."""
        self.notify(len(self._waiters))

    def _check_owner(self, what: str) -> None:
        task = current_task()
        if self._lock._owner is not task:
            raise RuntimeError(f"task {task.name!r} called Condition.{what}() without the lock")

    def statistics(self) -> ConditionStatistics:
        return ConditionStatistics(waiting(self._waiters), self._lock.statistics())

    def __repr__(self) -> str:
        return f"<Condition {self._lock!r}, {len(self._waiters)} waiting>"
