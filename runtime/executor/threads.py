"""Blocking work in worker threads: `to_thread`, under a `CapacityLimiter`.

A call borrows a token of its limiter (the runner's default has
`DEFAULT_THREAD_LIMIT`, trio's 40) for as long as its thread runs, so the
limiter bounds how many threads work at once; the `ThreadPool` itself only
keeps threads for reuse. When the thread is done it does not touch the
task: it queues ``finish`` with the runner's `RuntimeToken` (through the
reactor's `Waker`), and ``finish``, on the loop's thread, gives the token
back and wakes the task. So a call that was abandoned still returns its
token when its thread ends.

Cancellation, trio's rule: by default the task waits for the thread
(threads cannot be interrupted), and the call's result is returned; the
cancellation is seen at the task's next checkpoint. With
``abandon_on_cancel=True`` a cancelled task leaves at once with
`Cancelled`, and the thread's result is dropped when it comes.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import sniffio

from ..errors import RunFinishedError
from . import context
from .limiter import CapacityLimiter
from .traps import checkpoint_if_cancelled, park, park_uncancellable

if TYPE_CHECKING:
    from .cancel import CancelScope
    from .reentry import RuntimeToken
    from .task import Task

T = TypeVar("T")

#: trio's default: calls past it queue for a token of the default limiter.
DEFAULT_THREAD_LIMIT = 40


class ThreadPool:
    """Daemon worker threads, started on demand and kept for reuse.

    Not `concurrent.futures.ThreadPoolExecutor`: its threads are joined when
    it shuts down and again at interpreter exit, so one abandoned call that
    never returns (a hung DNS lookup) would hold `runtime.run`, and then the
    process, forever. Here `shutdown` stops and joins the idle workers and
    leaves a worker still inside an abandoned call to finish it and exit on
    its own; being a daemon, it never holds the process (trio does the same).
    How many run at once is the limiters' business, not the pool's.
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
            if self._idle == 0:
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
                # Drop it now, not at the next job: it holds the call's
                # function, arguments and context variables alive.
                job = None
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


class _WorkerState(threading.local):
    """What a worker thread knows while it runs a call: who to call back into."""

    token: RuntimeToken | None = None
    #: The calling task's scope, when it waits for the thread: from_thread.run's
    #: task runs there, so cancelling the caller reaches it.
    scope: CancelScope | None = None
    #: The call being run: `from_thread.check_cancelled` asks whether its caller was cancelled.
    call: _Call | None = None


worker = _WorkerState()


class _Call:
    """One call's outcome; also the borrower of the limiter's token."""

    __slots__ = ("abandoned", "caller", "done", "error", "value")

    def __init__(self, caller: Task) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.caller = caller
        #: Set when the caller was cancelled and left (abandon_on_cancel=True).
        self.abandoned = False

    def caller_cancelled(self) -> bool:
        """Has the task waiting for (or having abandoned) this call been cancelled?

        Read from the worker thread: the caller is parked in `to_thread`, so
        its scope chain can gain a cancel but not change shape meanwhile.
        """
        return self.abandoned or self.caller.cancel_pending()

    def __repr__(self) -> str:
        return f"<to_thread call {id(self):#x}>"


def _no_async_library(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    # The copied context says which library the task ran under; the worker
    # runs none (sniffio asks "async library?" and must get no answer), as in trio.
    sniffio.current_async_library_cvar.set(None)
    return fn(*args)


def current_default_thread_limiter() -> CapacityLimiter:
    """The running `Runner`'s limiter for `to_thread` (40 tokens; change ``total_tokens``)."""
    runner = context.runner()
    if runner.thread_limiter is None:
        runner.thread_limiter = CapacityLimiter(DEFAULT_THREAD_LIMIT)
    return runner.thread_limiter


async def to_thread(fn: Callable[..., T], *args: Any, limiter: CapacityLimiter | None = None,
                    abandon_on_cancel: bool = False) -> T:
    """Run ``fn(*args)`` in a worker thread; return its result or raise its error.

    The loop keeps running meanwhile. ``limiter`` (default:
    `current_default_thread_limiter`) bounds how many calls run at once; a
    call waits for a token first. If the task is cancelled while the thread
    runs, it waits for the thread and returns its result (the cancellation
    is raised at its next checkpoint), or with ``abandon_on_cancel=True``
    raises `Cancelled` at once, leaving the thread to finish on its own. In
    a cancelled scope ``fn`` is not called at all. Inside ``fn``,
    `runtime.from_thread` reaches this runtime without a token.
    """
    # A checkpoint first: in a cancelled scope the call is never started
    # (trio's run_sync), however fast it would have returned.
    await checkpoint_if_cancelled()
    runner = context.runner()
    task = runner.current
    if limiter is None:
        limiter = current_default_thread_limiter()
    call = _Call(task)
    await limiter.acquire_on_behalf_of(call)
    token = runner.token
    scope = None if abandon_on_cancel else task.scope
    waker = task.waker

    def finish() -> None:  # on the loop's thread
        call.done = True
        limiter.release_on_behalf_of(call)
        waker.wake()

    # The worker runs in a copy of the task's context variables (trio and
    # asyncio do the same), so a contextvar set before the call is seen.
    call_context = contextvars.copy_context()

    def work() -> None:
        worker.token, worker.scope, worker.call = token, scope, call
        try:
            call.value = call_context.run(_no_async_library, fn, args)
        except BaseException as exc:
            call.error = exc
        finally:
            worker.token = worker.scope = worker.call = None
            try:
                token.run_sync_soon(finish)
            except RunFinishedError:
                pass  # abandoned, and its runtime has closed since: nobody waits

    try:
        runner.threads.submit(work)
    except BaseException:
        limiter.release_on_behalf_of(call)
        raise
    wait = park if abandon_on_cancel else park_uncancellable
    try:
        while not call.done:
            await wait()
    except BaseException:
        call.abandoned = True  # only a cancellable park raises: abandon_on_cancel=True
        raise
    error, call.error = call.error, None
    if error is not None:
        raise error
    return call.value  # type: ignore[no-any-return]
