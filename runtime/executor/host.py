"""`Host`: the runner as an event loop built on top of it sees it.

`runtime.asyncio` is an asyncio event loop whose callbacks run in the
runtime's own run loop, whose timers sit in its `TimerHeap` and whose file
descriptors sit on the IO driver's `ScheduledIo`. It needs a few things a
task never does, and gets them here, as public names, rather than by reaching
into the runner:

* `CallbackWaker`: a `Waker` that, when woken, calls a function on the
  runner's thread. It waits in the same run queue as the tasks (one FIFO,
  one batch per turn), and can be stored as a `ScheduledIo`'s reader or
  writer, so an IO event runs an asyncio callback with no task in between.
  Woken from another thread, it wakes the reactor (`call_soon_threadsafe`).
* `Host.call_at` / `Host.cancel_timer`: entries in the runner's `TimerHeap`.
* `Host.ring_receiver`: on io_uring, a socket's multishot receive that
  wakes a `CallbackWaker` with the bytes already copied out (`RingReceiver`).
* `Host.new`: a `Runner` of its own (reusable: an asyncio loop's
  ``run_until_complete``, called many times), keeping its reactor, IO
  registrations, timers and queued callbacks in between.
* `on_run`: a hook called each time a runtime starts driving its loop, and
  `Host.on_close`, called as it closes (together they are how
  ``asyncio.get_running_loop()`` works inside ``runtime.run`` and
  ``Runner.run``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from . import context
from .driving import RUN_HOOKS
from .io_driver import ScheduledIo
from .ring_receiver import RingReceiver
from .runner import Runner
from .task import JoinHandle, Waker
from .time_driver import TimerEntry


class CallbackWaker(Waker):
    """A `Waker` whose wake runs ``fn()`` once on the runner's thread.

    Queued like a task, in the same run queue, but the run loop calls it
    rather than stepping it (`Runner.run_until_complete`): no coroutine, no
    context switch, never cancelled, and `runtime.current_task` says no task
    is running. Several wakes before it runs coalesce into one call. ``fn``
    runs in the context the runtime was started from, like an asyncio
    loop's own code; what it runs on behalf of others gets their context
    (asyncio's ``Handle``). ``fn`` must not raise; if it raises anyway, an
    `Exception` is logged by ``on_error`` and anything else
    (`KeyboardInterrupt`, `SystemExit`) stops the run.
    """

    __slots__ = ("call", "finished", "name", "on_error", "runner", "scheduled")

    def __init__(self, runner: Runner, fn: Callable[[], object], name: str,
                 on_error: Callable[[BaseException], object]) -> None:
        self.runner = runner
        self.name = name
        #: What the run loop calls; a task's ``call`` is None (`Task.call`).
        self.call = fn
        self.on_error = on_error
        self.scheduled = False
        self.finished = False  # never: the runner's wake reads it as it reads a task's

    def __repr__(self) -> str:
        return f"<CallbackWaker {self.name} {'scheduled' if self.scheduled else 'idle'}>"


class Host:
    """One runner, with what an event loop needs from it (see the module doc)."""

    __slots__ = ("_owned", "runner")

    def __init__(self, runner: Runner, owned: bool) -> None:
        self.runner = runner
        self._owned = owned

    @classmethod
    def current(cls) -> Host | None:
        """The `Host` of the runtime running in this thread, or ``None``."""
        runner = context.runner_or_none()
        if runner is None:
            return None
        return cls(runner, owned=False)

    @classmethod
    def new(cls, backend: str | None = None) -> Host:
        """A runner of its own, not running yet: drive it with `run`, end it with `close`.

        It leaves SIGINT alone: Ctrl-C raises `KeyboardInterrupt` where the
        thread is, as in asyncio (whose ``Runner`` installs its own handler).
        """
        return cls(Runner(backend, catch_sigint=False), owned=True)

    def run(self, main: Coroutine[Any, Any, Any]) -> Any:
        """`Runner.run`: ``main`` as this call's main task; what it leaves
        running, and what is registered (timers, fds, queued `CallbackWaker`
        s), is still there for the next `run`."""
        if not self._owned:
            main.close()
            raise RuntimeError("Host.run() needs a host made by Host.new()")
        return self.runner.run(main)

    def poll_io(self) -> None:
        """Take the IO events that are ready now (no waiting) and wake their
        waiters: an asyncio loop's turn starts by polling, even with callbacks
        ready, and ``run_until_complete`` of a finished future is one turn."""
        runner = self.runner
        if runner.wait_io(runner.events, 0):
            runner.io.dispatch(runner.events.raw)
            if runner._remote_pending:
                # That poll took the reactor Waker's event too; the run loop
                # takes remote wakes only after a poll that returns it, so
                # raise it again (else call_soon_threadsafe is lost).
                runner.reactor_waker.wake()

    def close(self) -> None:
        """Close an owned runner (its reactor, IO driver, threads). Idempotent."""
        if self._owned:
            self.runner.close()

    def callback_waker(self, fn: Callable[[], object], name: str,
                       on_error: Callable[[BaseException], object]) -> CallbackWaker:
        return CallbackWaker(self.runner, fn, name, on_error)

    @property
    def attached(self) -> dict[str, Any]:
        """What a layer above keeps per runtime, by name (runtime.asyncio's
        loop): a dict that lives and dies with the runner."""
        return self.runner.attached

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once as the runner closes, after its last task ended
        and before its reactor is released."""
        self.runner.close_callbacks.append(fn)

    def clock(self) -> float:
        """The runner's clock (`runtime.current_time`'s), which timers are in."""
        return self.runner.clock()

    def call_at(self, deadline: float, fn: Callable[[], object]) -> TimerEntry:
        """Call ``fn()`` from the run loop once ``deadline`` (`clock`) has passed."""
        return self.runner.timers.insert(deadline, fn)

    def cancel_timer(self, entry: TimerEntry) -> None:
        self.runner.timers.cancel(entry)

    def scheduled_io(self, fd: int) -> ScheduledIo:
        """``fd``'s `ScheduledIo`, registered (once, edge-triggered) on first use."""
        return self.runner.io.scheduled_io(fd)

    def forget_stale_io(self, fd: int) -> None:
        """``fd`` was just opened: an entry under its number is a closed fd's
        (closed without `notify_closing`), whose registration died with it."""
        if self.runner.io.lookup(fd) is not None:
            self.runner.io.notify_closing(fd)

    def lookup_io(self, fd: int) -> ScheduledIo | None:
        return self.runner.io.lookup(fd)

    def notify_closing(self, fd: int) -> None:
        """``fd`` is about to be closed: wake its waiters, deregister it."""
        self.runner.io.notify_closing(fd)

    def rearm(self, sio: ScheduledIo) -> None:
        """Before waiting on ``sio`` again: IOCP's emulated edge needs it; a no-op elsewhere."""
        if self.runner.io.needs_rearm:
            self.runner.io.rearm(sio)

    @property
    def receives_on_ring(self) -> bool:
        """Can `ring_receiver` make one (io_uring with provided buffers)?"""
        ring = self.runner.ring
        return ring is not None and ring.buffers is not None

    def ring_receiver(self, fd: int, waker: Waker) -> RingReceiver | None:
        """A multishot receive on ``fd`` that wakes ``waker`` as chunks come
        (not armed yet: `RingReceiver.arm_or_end`), or ``None`` unless this
        runtime `receives_on_ring` (``backend="uring"``, Linux 6.0+)."""
        ring = self.runner.ring
        if ring is None or ring.buffers is None:
            return None
        return RingReceiver(ring, fd, waker)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> JoinHandle[Any]:
        """A detached task (`runtime.spawn`), callable from a `CallbackWaker` too."""
        return JoinHandle(self.runner.spawn(coro, self.runner.root_scope, name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Host) and other.runner is self.runner

    def __hash__(self) -> int:
        return id(self.runner)


def on_run(hook: Callable[[Host], Callable[[], None] | None]) -> Callable[[], None]:
    """Call ``hook(host)`` each time a runtime starts driving its loop (in its
    thread, before any task steps): each `runtime.run`, each `Runner.run`, and
    the drive of `Runner.close` that cancels what is left. If it returns a
    function, that is called as the drive ends. Returns a function that
    removes the hook."""

    def call(runner: Runner) -> Callable[[], None] | None:
        return hook(Host(runner, owned=False))

    RUN_HOOKS.append(call)
    return lambda: RUN_HOOKS.remove(call)
