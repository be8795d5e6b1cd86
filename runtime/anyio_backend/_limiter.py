"""anyio's `CapacityLimiter` over `runtime.CapacityLimiter`, and the default one."""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import Any, Self

from anyio import CapacityLimiterStatistics, WouldBlock
from anyio._core._synchronization import CapacityLimiter as BaseCapacityLimiter

import runtime

#: runtime's default limiter (one per Runner) -> the anyio wrapper handed out for it.
_wrappers: weakref.WeakKeyDictionary[Any, CapacityLimiter] = weakref.WeakKeyDictionary()


class CapacityLimiter(BaseCapacityLimiter):
    def __new__(cls, total_tokens: float | None = None, *, original: Any = None) -> Self:
        return object.__new__(cls)

    def __init__(self, total_tokens: float | None = None, *, original: Any = None) -> None:
        if original is None:
            assert total_tokens is not None
            original = runtime.CapacityLimiter(total_tokens)
        self._limiter = original

    async def __aenter__(self) -> None:
        await self._limiter.__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        await self._limiter.__aexit__(exc_type, exc_val, exc_tb)

    @property
    def total_tokens(self) -> float:
        return self._limiter.total_tokens  # type: ignore[no-any-return]

    @total_tokens.setter
    def total_tokens(self, value: float) -> None:
        self._limiter.total_tokens = value

    @property
    def borrowed_tokens(self) -> int:
        return self._limiter.borrowed_tokens  # type: ignore[no-any-return]

    @property
    def available_tokens(self) -> float:
        return self._limiter.available_tokens  # type: ignore[no-any-return]

    def acquire_nowait(self) -> None:
        try:
            self._limiter.acquire_nowait()
        except runtime.WouldBlock:
            raise WouldBlock from None

    def acquire_on_behalf_of_nowait(self, borrower: object) -> None:
        try:
            self._limiter.acquire_on_behalf_of_nowait(borrower)
        except runtime.WouldBlock:
            raise WouldBlock from None

    async def acquire(self) -> None:
        await self._limiter.acquire()

    async def acquire_on_behalf_of(self, borrower: object) -> None:
        await self._limiter.acquire_on_behalf_of(borrower)

    def release(self) -> None:
        self._limiter.release()

    def release_on_behalf_of(self, borrower: object) -> None:
        self._limiter.release_on_behalf_of(borrower)

    def statistics(self) -> CapacityLimiterStatistics:
        stats = self._limiter.statistics()
        return CapacityLimiterStatistics(borrowed_tokens=stats.borrowed_tokens,
                                         total_tokens=stats.total_tokens,
                                         borrowers=tuple(stats.borrowers),
                                         tasks_waiting=stats.tasks_waiting)


def runtime_limiter(limiter: BaseCapacityLimiter | None) -> Any:
    """The `runtime.CapacityLimiter` behind an anyio limiter (``None``: the default)."""
    if limiter is None:
        return None
    if isinstance(limiter, CapacityLimiter):
        return limiter._limiter
    raise TypeError(f"a limiter of another backend cannot govern runtime's threads: {limiter!r}")


def default_limiter() -> CapacityLimiter:
    """The anyio face of the running Runner's default `to_thread` limiter (one per Runner)."""
    original = runtime.current_default_thread_limiter()
    wrapper = _wrappers.get(original)
    if wrapper is None:
        wrapper = _wrappers[original] = CapacityLimiter(original=original)
    return wrapper
