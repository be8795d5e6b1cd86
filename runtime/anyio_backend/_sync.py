"""Event, Lock, Semaphore: anyio's classes over `runtime.sync`'s."""

from __future__ import annotations

from typing import Self

from anyio import EventStatistics, LockStatistics, WouldBlock
from anyio._core._synchronization import Event as BaseEvent
from anyio._core._synchronization import Lock as BaseLock
from anyio._core._synchronization import Semaphore as BaseSemaphore
from anyio._core._synchronization import SemaphoreStatistics

import runtime

from ._tasks import RuntimeTaskInfo


class Event(BaseEvent):
    def __new__(cls) -> Self:
        return object.__new__(cls)

    def __init__(self) -> None:
        self._event = runtime.Event()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    def statistics(self) -> EventStatistics:
        return EventStatistics(self._event.statistics().tasks_waiting)

    def set(self) -> None:
        self._event.set()


class Lock(BaseLock):
    """``fast_acquire``: an uncontended acquire skips the trip through the scheduler."""

    def __new__(cls, *, fast_acquire: bool = False) -> Self:
        return object.__new__(cls)

    def __init__(self, *, fast_acquire: bool = False) -> None:
        self._fast_acquire = fast_acquire
        self._lock = runtime.Lock()

    def _check_not_ours(self) -> None:
        if self._lock.statistics().owner is runtime.current_task():
            raise RuntimeError("Attempted to acquire an already held Lock")  # anyio's words

    async def acquire(self) -> None:
        self._check_not_ours()
        if self._fast_acquire:
            try:
                self._lock.try_acquire()
            except runtime.WouldBlock:
                pass
            else:
                await runtime.lowlevel.checkpoint_if_cancelled()
                return
        else:
            await runtime.checkpoint()  # acquire is a schedule point, as on the other backends
        await self._lock.acquire()

    def acquire_nowait(self) -> None:
        self._check_not_ours()
        try:
            self._lock.try_acquire()
        except runtime.WouldBlock:
            raise WouldBlock from None

    def locked(self) -> bool:
        return self._lock.locked()

    def release(self) -> None:
        self._lock.release()

    def statistics(self) -> LockStatistics:
        stats = self._lock.statistics()
        owner = None if stats.owner is None else RuntimeTaskInfo(stats.owner)
        return LockStatistics(stats.locked, owner, stats.tasks_waiting)


class Semaphore(BaseSemaphore):
    def __new__(cls, initial_value: int, *, max_value: int | None = None,
                fast_acquire: bool = False) -> Self:
        return object.__new__(cls)

    def __init__(self, initial_value: int, *, max_value: int | None = None,
                 fast_acquire: bool = False) -> None:
        super().__init__(initial_value, max_value=max_value, fast_acquire=fast_acquire)
        self._semaphore = runtime.Semaphore(initial_value, max_value=max_value)

    async def acquire(self) -> None:
        if self._fast_acquire:
            try:
                self._semaphore.try_acquire()
            except runtime.WouldBlock:
                pass
            else:
                await runtime.lowlevel.checkpoint_if_cancelled()
                return
        else:
            await runtime.checkpoint()
        await self._semaphore.acquire()

    def acquire_nowait(self) -> None:
        try:
            self._semaphore.try_acquire()
        except runtime.WouldBlock:
            raise WouldBlock from None

    @property
    def max_value(self) -> int | None:
        return self._semaphore.max_value

    @property
    def value(self) -> int:
        return self._semaphore.value

    def release(self) -> None:
        self._semaphore.release()

    def statistics(self) -> SemaphoreStatistics:
        return SemaphoreStatistics(self._semaphore.statistics().tasks_waiting)


