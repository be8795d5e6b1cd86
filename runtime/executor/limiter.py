"""`CapacityLimiter`: at most N borrowers at once (trio's and anyio's).

A `Semaphore` whose tokens are owned: each borrower (a task, or any
hashable object standing for one, as `to_thread` borrows for each call)
holds at most one token and must give back its own. `to_thread` runs its
calls under one (the runner's default limiter has 40 tokens). The number
of tokens can change while tokens are out: raising it hands tokens to
waiters at once; lowering it takes effect as tokens come back.

Waiters queue FIFO in the `Waiter` nodes of `waiter.py`, with the same
cancellation rules as the locks of `runtime.sync`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ..errors import WouldBlock
from .introspect import current_task
from .traps import checkpoint_if_cancelled
from .waiter import DONE, Waiter, take_first, wait_served, waiting


@dataclass(frozen=True)
class CapacityLimiterStatistics:
    """`CapacityLimiter.statistics`: tokens out, tokens in all, who holds them, who waits."""

    borrowed_tokens: int
    total_tokens: float
    borrowers: list[Any]
    tasks_waiting: int


class CapacityLimiter:
    """``async with limiter:`` holds one of ``total_tokens`` tokens for the task.

    ``total_tokens`` is an int >= 0 or ``math.inf``, and may be changed at
    any time (0, as in trio: nobody gets a token until it is raised). A
    borrower that already holds a token and asks for another, or gives back
    one it does not hold, gets `RuntimeError`. FIFO-fair.
    """

    __slots__ = ("__weakref__", "_borrowers", "_total", "_waiters")

    def __init__(self, total_tokens: float) -> None:
        self._total = self._checked(total_tokens)
        self._borrowers: set[Any] = set()
        self._waiters: deque[Waiter] = deque()

    @staticmethod
    def _checked(total: float) -> float:
        if not ((isinstance(total, int) and not isinstance(total, bool)) or total == math.inf):
            raise TypeError(f"total_tokens must be an int or math.inf, got {total!r}")
        if total < 0:
            raise ValueError(f"total_tokens must be >= 0, got {total!r}")
        return total

    @property
    def total_tokens(self) -> float:
        return self._total

    @total_tokens.setter
    def total_tokens(self, value: float) -> None:
        self._total = self._checked(value)
        self._hand_on()

    @property
    def borrowed_tokens(self) -> int:
        return len(self._borrowers)

    @property
    def available_tokens(self) -> float:
        return self._total - len(self._borrowers)

    def acquire_nowait(self) -> None:
        """Take a token for the current task if one is free; else `WouldBlock`."""
        self.acquire_on_behalf_of_nowait(current_task())

    def acquire_on_behalf_of_nowait(self, borrower: Any) -> None:
        """Take a token for ``borrower`` if one is free and nobody queues; else `WouldBlock`."""
        if borrower in self._borrowers:
            raise RuntimeError(
                "this borrower is already holding one of this CapacityLimiter's tokens "
                f"({borrower!r})")
        if len(self._borrowers) < self._total and not self._waiters:
            self._borrowers.add(borrower)
            return
        raise WouldBlock(f"all {self._total} tokens of the CapacityLimiter are borrowed")

    async def acquire(self) -> None:
        """Wait for a token for the current task; a cancellation point."""
        await self.acquire_on_behalf_of(current_task())

    async def acquire_on_behalf_of(self, borrower: Any) -> None:
        """Wait for a token for ``borrower``; a cancellation point."""
        await checkpoint_if_cancelled()
        try:
            self.acquire_on_behalf_of_nowait(borrower)
            return
        except WouldBlock:
            pass
        task = current_task()
        await wait_served(Waiter(self._waiters, task, task, borrower))

    def release(self) -> None:
        """Give back the current task's token."""
        self.release_on_behalf_of(current_task())

    def release_on_behalf_of(self, borrower: Any) -> None:
        """Give back ``borrower``'s token: to the first waiter, if there is room."""
        try:
            self._borrowers.remove(borrower)
        except KeyError:
            raise RuntimeError(
                "this borrower isn't holding any of this CapacityLimiter's tokens "
                f"({borrower!r} released one it does not hold)") from None
        self._hand_on()

    def _hand_on(self) -> None:
        while len(self._borrowers) < self._total:
            waiter = take_first(self._waiters)
            if waiter is None:
                return
            self._borrowers.add(waiter.value)
            waiter.state = DONE
            waiter.waker.wake()

    def statistics(self) -> CapacityLimiterStatistics:
        return CapacityLimiterStatistics(len(self._borrowers), self._total,
                                         list(self._borrowers), waiting(self._waiters))

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return (f"<CapacityLimiter {len(self._borrowers)}/{self._total} borrowed, "
                f"{waiting(self._waiters)} waiting>")
