"""Blocking work on a bounded thread pool: `to_thread`."""

from __future__ import annotations

import queue
import threading
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
    """Up to `MAX_THREADS` daemon worker threads, started on demand.

    Not `concurrent.futures.ThreadPoolExecutor`: its threads are joined when
    it shuts down and again at interpreter exit, so one abandoned call that
    never returns (a hung DNS lookup) would hold `runtime.run`, and then the
    process, forever. Here `shutdown` stops and joins the idle workers and
    leaves a worker still inside an abandoned call to finish it and exit on
    its own; being a daemon, it never holds the process (trio does the same).
    """

    __slots__ = ("_busy", "_idle", "_jobs", "_lock", "_threads")

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._busy: set[threading.Thread] = set()
        self._idle = 0

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._idle == 0 and len(self._threads) < MAX_THREADS:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"runtime-worker-{len(self._threads)}")
                self._threads.add(thread)
                self._idle += 1
                thread.start()
            self._idle -= 1
        self._jobs.put(fn)

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            with self._lock:
                self._busy.add(me)
            try:
                job()  # never raises: to_thread's job catches everything
            finally:
                with self._lock:
                    self._busy.discard(me)
                    self._idle += 1
        with self._lock:
            self._threads.discard(me)

    def shutdown(self) -> None:
        """Stop every worker; join those not stuck in an abandoned call."""
        with self._lock:
            threads = list(self._threads)
            stuck = set(self._busy)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            if thread not in stuck:
                thread.join()


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
