"""Blocking work on a bounded thread pool: `to_thread`."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from . import context
from .traps import checkpoint_if_cancelled, park

T = TypeVar("T")

#: trio's default limit; blocking calls past it queue for a free thread.
MAX_THREADS = 40


class _Outcome:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


class ThreadPool:
    """A lazily started `concurrent.futures.ThreadPoolExecutor` per runner."""

    __slots__ = ("_executor",)

    def __init__(self) -> None:
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[[], None]) -> None:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                MAX_THREADS, thread_name_prefix="runtime-worker")
        self._executor.submit(fn)

    def shutdown(self) -> None:
        """Wait for threads still running calls (abandoned ones included)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


async def to_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a worker thread; return its result or raise its error.

    The loop keeps running meanwhile: the worker wakes this task through its
    `Waker` (thread-safe; it goes through the reactor's `Waker`). If this task
    is cancelled while waiting, the call is abandoned: it runs to completion
    in its thread (threads cannot be interrupted) and its result is dropped;
    if it is cancelled already, ``fn`` is not called at all.
    """
    # A checkpoint first: in a cancelled scope the call is never started
    # (trio's run_sync), however fast it would have returned.
    await checkpoint_if_cancelled()
    runner = context.runner()
    waker = runner.current.waker
    outcome = _Outcome()

    def work() -> None:
        try:
            outcome.value = fn(*args)
        except BaseException as exc:
            outcome.error = exc
        finally:
            outcome.done = True
            waker.wake()

    runner.threads.submit(work)
    # Park at least once, even if the thread is already done: a call into a
    # thread is a checkpoint (as in trio), and the thread's wake is queued
    # for us either way, so it cannot be lost.
    await park()
    while not outcome.done:
        await park()
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[no-any-return]
