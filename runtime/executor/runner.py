"""The `Runner`: owns the run queue, the drivers, and the run loop.

One loop, visible in `Runner.run_until_complete`:

    run every ready task one step → compute how long to sleep (0 if tasks
    are ready, else until the earliest timer) → ``poll()`` the reactor →
    apply its events (IoDriver.dispatch wakes tasks) → fire due timers →
    take wake-ups that other threads queued → repeat.

A task's step is one ``coro.send(None)`` (or ``coro.throw(exc)``), which
runs the task until it yields a trap (`traps.PARK` / `traps.YIELD`) or
returns. This is the only place tasks run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import Cancelled
from ..reactor import Events, Poll, Token, Waker
from . import context
from .cancel import AbortScope, CancelScope, RootScope
from .clock import Clock
from .driving import driving
from .instruments import Instruments
from .io_driver import IoDriver
from .ready_source import ReadySource
from .reentry import EntryQueue, RuntimeToken
from .signals import SigintCatcher
from .source import Source
from .step_watch import debug_step, instrumented_step
from .task import Task, _UnretrievedException
from .task_dump import dump_signal_from_environment
from .threads import ThreadPool
from .time_driver import TimerHeap
from .traps import CHECKPOINT, PARK, YIELD
from .wait_plan import plan_wait

if TYPE_CHECKING:
    from .limiter import CapacityLimiter
    from .ring_driver import RingDriver

T = TypeVar("T")

#: tokio's cooperative budget: ready operations a task may complete in one
#: step before a checkpoint makes it yield to the others.
BUDGET = 128
WAKER_TOKEN = Token(0)
#: A step longer than this is logged when run(debug=True) (``slow_step=`` sets another).
SLOW_STEP = 0.1

#: While tasks stay ready, poll the reactor (without blocking) at least once
#: per this many steps (tokio's ``event_interval``): often enough that IO is
#: never starved, rarely enough that a busy loop is not one syscall per step.
EVENT_INTERVAL = 61


class _Recheck(BaseException):
    """Marks ``task.pending_exc``: decide about `Cancelled` when the task resumes."""


RECHECK = _Recheck()


class Runner:
    """One runtime instance: a loop that can run many top-level calls (asyncio's ``Runner``).

    ``with runtime.Runner() as runner: runner.run(main())`` as often as
    needed, on one loop: tasks that one call spawns and leaves running (into
    the root with `spawn`, or into a `TaskGroup` held by such a task) stay
    parked until the next call drives the loop again. `close` (the end of
    the ``with``) cancels what is left, waits for it, and raises a
    `KeyboardInterrupt`/`SystemExit` a detached task raised; other failures
    of detached tasks are logged, as with `runtime.run`, which is a one-shot
    `Runner`. ``backend`` and ``debug`` are `runtime.run`'s.
    """

    def __init__(self, backend: str | None = None, debug: bool = False, *,
                 catch_sigint: bool = True, clock: Clock | None = None,
                 instruments: Iterable[Any] = (), slow_step: float | None = None,
                 dump_signal: int | None = None) -> None:
        if backend is None:
            backend = os.environ.get("RUNTIME_BACKEND") or None
        if slow_step is not None and not slow_step > 0:
            raise ValueError(f"slow_step must be a number of seconds > 0, got {slow_step!r}")
        #: The signal that prints a task dump (task_dump.py), or None.
        self.dump_signal = dump_signal if dump_signal is not None else (
            dump_signal_from_environment())
        self.dump_previous: Any = None
        #: Log steps longer than this many seconds (``debug`` alone: `SLOW_STEP`).
        self.slow_step = SLOW_STEP if slow_step is None else slow_step
        self.debug = debug or slow_step is not None
        #: False: Ctrl-C is left to Python's handler (KeyboardInterrupt where
        #: the main thread is), as an asyncio loop's users expect (Host.new).
        self.catch_sigint = catch_sigint
        #: A `Clock` replacing the system's (a test's virtual clock), or None.
        self.custom_clock = clock
        if clock is None:
            self.clock: Callable[[], float] = time.perf_counter  # see runtime.time.current_time
        else:
            if not isinstance(clock, Clock):
                raise TypeError(f"clock must be a runtime Clock (current_time, "
                                f"deadline_to_sleep_time, start_clock), got {clock!r}")
            clock.start_clock()
            self.clock = clock.current_time
        # backend="uring": completions from an io_uring Ring, with the epoll
        # Poll inside it for what still needs readiness (ring_driver.py).
        self.poll = Poll(None if backend == "uring" else backend)
        #: The tasks ready to take a step, first in first out (a task woken
        #: first runs first); append and popleft are O(1) and atomic under the GIL.
        self.run_queue: deque[Task] = deque()
        self.ring: RingDriver | None = None
        #: What `socket_source` makes on this runtime, chosen once, here.
        self.source_class: Callable[[socket.socket], Source] = ReadySource
        try:
            self.events = Events(1024)
            self.reactor_waker = Waker(self.poll.registry, WAKER_TOKEN)
            self.io = IoDriver(self.poll.registry, self.wake_here, self.run_queue)
            self.timers = TimerHeap()
            self.threads = ThreadPool()
            self.sigint = SigintCatcher(self.poll.registry)
            if backend == "uring":
                from .ring_driver import RingDriver  # built on Linux only
                from .ring_source import RingSource

                self.ring = RingDriver(self.poll, self.wake_here)
                self.source_class = RingSource
        except BaseException:
            self.poll.close()
            raise
        #: The loop's wait for IO: the reactor's, or the ring's (which drains the reactor's).
        self.wait_io = self.poll.poll if self.ring is None else self.ring.poll
        self.current: Task = None  # type: ignore[assignment]  # set while a task steps
        self.budget = BUDGET
        self.root_scope = RootScope()
        #: Each `run` call's main task lives in a scope of its own (Ctrl-C cancels it).
        self.main_scope = RootScope(parent=self.root_scope)
        self.live_tasks = 0
        #: wait_all_tasks_blocked's waiters: [cushion, order, task, woken], sorted.
        self.idle_waiters: list[list[Any]] = []
        #: Cancelled scopes still in the tree (entered, or roots). While it is
        #: 0, no task can be cancelled and Task.cancel_pending need not walk
        #: its scope chain: the common case, on every checkpoint.
        self.live_cancels = 0
        self.thread_id = threading.get_ident()
        self._remote: deque[Task] = deque()
        self._remote_pending = False
        #: Calls from other threads (RuntimeToken.run_sync_soon), taken with the wakes.
        self.entries = EntryQueue(self._poke)
        self.token = RuntimeToken(self.entries)
        #: to_thread's default CapacityLimiter, made on first use.
        self.thread_limiter: CapacityLimiter | None = None
        #: Instruments (instruments.py); `instrumented` is the one flag the hot
        #: paths test, so that with none installed they cost a test and no call.
        self.instrumented = False
        self.step: Callable[[Task], None] = (
            partial(debug_step, self) if self.debug else self._step)
        #: Instrumented: the tasks whose task_scheduled instruments were told of.
        self.told: set[Task] = set()
        self.instruments = Instruments(self._set_instrumented)
        for instrument in instruments:
            self.instruments.add(instrument)
        self._crash: BaseException | None = None
        self._closed = False
        self._interrupted = False
        #: Called once as `close` ends, before the reactor is released (`Host.on_close`).
        self.close_callbacks: list[Callable[[], None]] = []
        #: What a layer above keeps per runtime, by name (`Host.attached`):
        #: runtime.asyncio's loop. It lives and dies with the runner.
        self.attached: dict[str, Any] = {}

    # -- tasks -------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], scope: CancelScope,
              name: str | None = None) -> Task:
        if not isinstance(coro, Coroutine):
            raise TypeError(
                f"spawn() needs a coroutine object, got {type(coro).__name__} {coro!r} "
                "(call the async function: spawn(f()) not spawn(f))"
            )
        task = Task(coro, self, scope, name, self.current)
        scope.adopt(task)
        self.live_tasks += 1
        if self.instrumented:
            self.instruments.call("task_spawned", task)
        self.wake_here(task)
        return task

    def _set_instrumented(self, on: bool) -> None:
        self.instrumented = on
        # The IO driver queues the wakers it wakes itself, but instruments
        # must hear of each (task_scheduled): through wake_here while on.
        self.io.run_queue = None if on else self.run_queue
        self.told.clear()
        plain = partial(debug_step, self) if self.debug else self._step
        #: What the run loop calls for each step; read once per batch.
        self.step = partial(instrumented_step, self) if on else plain

    def wake(self, task: Task) -> None:
        """Schedule ``task`` (the body of `Waker.wake`)."""
        if threading.get_ident() != self.thread_id:
            self._remote.append(task)
            self._poke()
            return
        # wake_here, written out: every Waker.wake (a lock, a channel, a
        # timer) comes here. micro.py's pingpong under callgrind took 21,616
        # instructions per message with this call and the channel's two
        # spend_budget calls, 20,783 with the three written out.
        if task.scheduled or task.finished:
            return
        task.scheduled = True
        self.run_queue.append(task)
        if self.instrumented:
            self.told.add(task)
            self.instruments.call("task_scheduled", task)

    def _poke(self) -> None:
        # Another thread queued a wake or a call: step 3 of the loop takes
        # them. One write to the reactor's Waker, none while one is on its way.
        if not self._remote_pending:
            self._remote_pending = True
            try:
                self.reactor_waker.wake()
            except ValueError:
                pass  # the runtime has finished; nothing is left to wake

    def wake_here(self, task: Task) -> None:
        """Queue ``task`` for a step, unless it is queued already or finished.

        `wake` for a caller known to run on the runner's own thread (the IO
        and ring drivers' dispatch, the run loop itself): the same, without
        asking which thread this is. (`IoDriver.dispatch` and `wake` write
        it out for speed; `_step` re-queues a task at a checkpoint.)
        """
        if task.scheduled or task.finished:
            return
        task.scheduled = True
        self.run_queue.append(task)
        if self.instrumented:
            self.told.add(task)
            self.instruments.call("task_scheduled", task)

    def deliver_cancel(self, task: Task) -> None:
        """Throw `Cancelled` into ``task`` if it is parked where that is allowed.

        A task that is running or already scheduled is left alone: it will
        see the cancellation at its next checkpoint. One parked with an abort
        callback (`traps.park`) is asked first, and left alone if it says no.
        """
        if task.finished or task.scheduled or task is self.current or not task.cancellable:
            return
        abort = task.abort
        if abort is not None and not abort():
            return  # served already: woken anyway, it sees the cancel at its next checkpoint
        task.pending_exc = Cancelled(task.cancel_reason())
        self.wake_here(task)

    def abort(self, task: Task) -> None:
        """`JoinHandle.abort`: cancel an `AbortScope` put around ``task`` (once)."""
        if task.finished or task.aborted:
            return
        task.aborted = True
        AbortScope.around(task).cancel()

    def _step(self, task: Task) -> None:
        self.current = task
        self.budget = BUDGET
        exc = task.pending_exc
        if exc is RECHECK:
            # Decided now, not when the task yielded: a cancel that came while
            # it sat in the run queue counts too.
            exc = task.pending_exc = (
                Cancelled(task.cancel_reason())
                if self.live_cancels and task.cancel_pending() else None)
        try:
            if exc is None:
                trap = task.context.run(task.coro.send, None)
            else:
                task.pending_exc = None
                trap = task.context.run(task.coro.throw, exc)
        except StopIteration as stop:
            self._finish(task, stop.value, None)
        except BaseException as error:
            # This frame leaves the traceback (trio strips its own too): it
            # holds the task, so the error would keep itself alive in a
            # cycle, and it tells the reader nothing.
            self._finish(task, None, error.with_traceback(error.__traceback__.tb_next))  # type: ignore[union-attr]
            # The task's own frame may outlive this step with its f_back
            # pointing here (Python 3.12 keeps a finished caller's frame and
            # its locals for it): let go of the task and what was thrown in.
            task = exc = None  # type: ignore[assignment]
        else:
            if trap is PARK:
                # Its waker is stored wherever it waits; but a task that is
                # cancelled already must not sleep: it gets Cancelled next step
                # (if its abort callback, when it has one, lets it go).
                if self.live_cancels and task.cancellable and task.cancel_pending():
                    abort = task.abort
                    if abort is None:
                        task.pending_exc = RECHECK
                        self.wake_here(task)
                    elif abort():
                        task.pending_exc = Cancelled(task.cancel_reason())
                        self.wake_here(task)
            elif trap is CHECKPOINT or trap is YIELD:
                if trap is CHECKPOINT:
                    task.pending_exc = RECHECK
                # wake_here, written out (the task is running: not finished):
                # micro.py's yield bench under callgrind took 9,091
                # instructions per sleep(0) with the call, 8,812 without.
                # (With instruments, instrumented_step reports this re-queue:
                # no flag test here, on the path every sleep(0) takes.)
                if not task.scheduled:
                    task.scheduled = True
                    self.run_queue.append(task)
            else:
                task.pending_exc = TypeError(
                    f"task {task.name!r} awaited {trap!r}, which is not a runtime awaitable "
                    "(asyncio and trio objects cannot be awaited inside runtime.run)"
                )
                self.wake_here(task)
        finally:
            self.current = None  # type: ignore[assignment]

    def _finish(self, task: Task, result: Any, exc: BaseException | None) -> None:
        task.finished = True
        task.result = result
        task.exception = exc
        if self.instrumented:
            self.instruments.call("task_exited", task)
        scope = task.scope.release(task)  # where it was spawned (past an AbortScope)
        self.live_tasks -= 1
        if task.join_wakers:
            for waker in task.join_wakers:
                waker.wake()
            task.join_wakers = None
        if task.on_done is not None:
            task.on_done(task)
        elif exc is not None and not isinstance(exc, Cancelled):
            detached = scope is self.root_scope
            if not isinstance(exc, Exception) and self._crash is None and detached:
                # KeyboardInterrupt/SystemExit in a detached task: stop the program.
                self._crash = exc
                self.main_scope.cancel()
            task.reporter = _UnretrievedException(task.name, exc)

    # -- the loop ------------------------------------------------------------------

    def run_until_complete(self, main: Task | None) -> None:
        """Drive the loop until ``main`` finishes (``None``: until no task is left)."""
        run_queue = self.run_queue
        events = self.events
        timers = self.timers
        pending_timers = timers.entries  # empty: no timer work this turn
        clock = self.clock
        steps_since_poll = 0
        # _step, or debug_step, or instrumented_step while instruments are
        # in: read again whenever the loop looks at IO (below), not per batch
        # (the read cost the yield micro-benchmark 110 instructions a
        # sleep(0) under callgrind). An instrument added by a task counts
        # from then on: at most EVENT_INTERVAL steps later.
        step = self.step
        # This 'while' loop right here is our event loop:
        while self.live_tasks:
            # 1. Every task that is ready now takes one step. Tasks woken during
            #    this batch wait for the next one.
            batch = len(run_queue)
            steps_since_poll += batch
            for _ in range(batch):
                task = run_queue.popleft()
                task.scheduled = False
                call = task.call
                if call is not None:
                    # A CallbackWaker (an asyncio loop's IO or ready
                    # callbacks): one call, with none of a step's
                    # bookkeeping. Not reported to instruments: not a task.
                    try:
                        call()
                    except Exception as exc:
                        task.on_error(exc)  # type: ignore[attr-defined]
                    except BaseException as exc:
                        self._call_failed(exc)  # KeyboardInterrupt, SystemExit: stop the run
                    continue
                if task.finished:
                    continue  # woken while it ran (a self-wake), then it returned
                step(task)
            if main is not None and main.finished:
                break  # what it spawned stays parked until the next run, or close
            if not self.live_tasks:
                break
            # 2. Sleep in the reactor until IO, the next timer, or a wake; or,
            #    while tasks are ready, look at IO without sleeping, now and
            #    then (EVENT_INTERVAL).
            idle: float | None = None  # wait_all_tasks_blocked's cushion, if it bounds the wait
            if run_queue:
                if steps_since_poll >= EVENT_INTERVAL:
                    steps_since_poll = 0
                    step = self.step
                    if self._wait_io(events, 0):
                        self.io.dispatch(events.raw)
            else:
                steps_since_poll = 0
                step = self.step
                # Until the next timer, a virtual clock's autojump, or
                # wait_all_tasks_blocked's cushion (wait_plan.py).
                timeout, deadline, jump, idle = plan_wait(
                    timers, clock, self.custom_clock, self.idle_waiters)
                if self._wait_io(events, timeout):
                    self.io.dispatch(events.raw)
                if jump is not None and not run_queue and not self._remote_pending:
                    self.custom_clock.autojump(deadline)  # type: ignore[union-attr]
            # 3. Timers that are due, and wake-ups from other threads.
            if pending_timers:
                timers.fire_expired(clock())
            if self._remote_pending:
                self._take_remote_wakes()
            if self.sigint.pending:
                self._take_sigint()
                self.main_scope.cancel()
            if not run_queue and idle is not None:
                self._wake_idle_waiters(idle)
        # A Ctrl-C that came during the last step has no task left to cancel,
        # but run() must still raise it (trio does).
        if self.sigint.pending:
            self._take_sigint()

    def _wait_io(self, events: Events, timeout: float | None) -> int:
        if not self.instrumented:
            return self.wait_io(events, timeout)  # type: ignore[no-any-return]
        self.instruments.call("before_io_wait", timeout)
        try:
            return self.wait_io(events, timeout)  # type: ignore[no-any-return]
        finally:
            self.instruments.call("after_io_wait", timeout)

    def _wake_idle_waiters(self, cushion: float) -> None:
        # Nothing became ready within the cushion: every task is blocked.
        waiters = self.idle_waiters
        while waiters and waiters[0][0] == cushion:
            waiter = waiters.pop(0)
            waiter[3] = True
            self.wake_here(waiter[2])

    def _take_sigint(self) -> None:
        self.sigint.pending = False
        self.sigint.drain()
        if self._crash is None:
            self._crash = KeyboardInterrupt()

    def _take_remote_wakes(self) -> None:
        # Clear the flag before draining: a thread that appends after the
        # drain sees it clear and wakes the reactor again.
        self._remote_pending = False
        remote = self._remote
        while remote:
            self.wake_here(remote.popleft())
        if self.entries.calls:
            self.entries.run_queued(self._call_failed)

    def _call_failed(self, exc: BaseException) -> None:
        # A call from another thread raised: like a detached task's
        # KeyboardInterrupt, it stops this run (trio: TrioInternalError).
        if self._crash is None:
            self._crash = exc
        self.main_scope.cancel()

    # -- the top-level calls ---------------------------------------------------------

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` as this call's main task until it finishes; return its result.

        Re-raises ``main``'s exception. Tasks ``main`` spawned and left
        running stay parked until the next `run` (or `close`). Ctrl-C cancels
        ``main`` and makes `run` raise `KeyboardInterrupt`.
        """
        if not isinstance(main, Coroutine):
            raise TypeError(
                f"Runner.run() needs a coroutine object, got {type(main).__name__} {main!r} "
                "(call the async function: run(main()) not run(main))"
            )
        if self._closed:
            main.close()
            raise RuntimeError("Runner.run() called on a closed Runner")
        if context.runner_or_none() is not None:
            main.close()
            raise RuntimeError(
                "runtime.run() called inside a running runtime; await the coroutine instead"
            )
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(driving(self))
            except BaseException:
                main.close()  # a run hook failed: main never ran, and must not warn so later
                raise
            self.main_scope = scope = RootScope(parent=self.root_scope)
            task = self.spawn(main, scope, name="main")
            try:
                self.run_until_complete(task)
            except BaseException:
                # Out of the loop itself (a second Ctrl-C's KeyboardInterrupt
                # from inside poll()): tasks stopped mid-flight; close must not
                # drive them again, only release.
                self._interrupted = True
                raise
            finally:
                # The scope held main only: forget it (and its cancel, if Ctrl-C
                # cancelled it), so later calls do not walk past it.
                scope.detach()
        if task.reporter is not None:
            # run() hands main's exception to its caller: that retrieves it.
            task.reporter.exc = None
            task.reporter = None
        crash = self.take_crash()
        if crash is not None:
            if task.exception is not None and not isinstance(task.exception, Cancelled):
                raise crash from task.exception
            raise crash
        if task.exception is not None:
            raise task.exception
        return task.result  # type: ignore[no-any-return]

    def close(self) -> None:
        """Cancel the tasks still running, wait for them, and release the loop.

        Raises a `KeyboardInterrupt` or `SystemExit` that a detached task
        raised (or a Ctrl-C during the wait); idempotent.
        """
        if self._closed:
            return
        if context.runner_or_none() is not None:
            raise RuntimeError("Runner.close() called inside a running runtime")
        try:
            if not self._interrupted and (self.live_tasks or not self.entries.finish()):
                with driving(self):
                    self.root_scope.cancel()
                    while True:
                        self.run_until_complete(None)
                        # Calls accepted from other threads are made before we close.
                        if self.entries.finish():
                            break
                        self._take_remote_wakes()
        finally:
            self.entries.done = True
            self._closed = True
            try:
                self._call_close_callbacks()
            finally:
                self._release()
        crash = self.take_crash()
        if crash is not None:
            raise crash

    def _call_close_callbacks(self) -> None:
        # Each one runs even if one before it raised (each releases its own
        # layer's resources); the first error is raised after all ran.
        first: BaseException | None = None
        for callback in self.close_callbacks:
            try:
                callback()
            except BaseException as exc:
                if first is None:
                    first = exc
        if first is not None:
            raise first

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _release(self) -> None:
        try:
            self.sigint.uninstall()
            self.threads.shutdown()
            self.io.close()
        finally:
            try:
                if self.ring is not None:
                    self.ring.close()
            finally:
                self.poll.close()

    def take_crash(self) -> BaseException | None:
        crash, self._crash = self._crash, None
        return crash
