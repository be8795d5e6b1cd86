"""What holds while a thread drives a `Runner`'s loop, and the hooks that see it.

`Runner.run` (and `Runner.close`'s last drive) wrap the loop in `driving`:
the runner is the thread's (`context`, and sniffio's thread-local says
"runtime", as trio sets it), Ctrl-C is caught by it, the dump signal prints
a task dump, instruments hear ``before_run``/``after_run``, and each of
`RUN_HOOKS` is called (how ``asyncio.get_running_loop()`` works inside
``runtime.run``: `runtime.lowlevel.on_run`). All of it is undone when the
drive ends, however it ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import sniffio

from . import context
from .task_dump import dump_tasks

if TYPE_CHECKING:
    from .runner import Runner

#: Called with the `Runner` each time it starts driving its loop (`Runner.run`,
#: so `runtime.run`, and the final drive of `Runner.close`); each may return a
#: function to call when that drive ends (`runtime.lowlevel.on_run`).
RUN_HOOKS: list[Callable[[Runner], Callable[[], None] | None]] = []


@contextlib.contextmanager
def driving(runner: Runner) -> Iterator[None]:
    """This thread drives ``runner``'s loop for the ``with`` block."""
    runner.thread_id = threading.get_ident()
    context.set_runner(runner)
    previous_library, sniffio.thread_local.name = sniffio.thread_local.name, "runtime"
    cleanups: list[Callable[[], None] | None] = []
    try:
        for hook in RUN_HOOKS:
            cleanups.append(hook(runner))
        if runner.catch_sigint:
            runner.sigint.install()
        if runner.dump_signal is not None:
            _install_dump_signal(runner, runner.dump_signal)
        if runner.instrumented:
            runner.instruments.call("before_run")
        try:
            yield
        finally:
            runner.sigint.uninstall()
            if runner.dump_signal is not None:
                signal.signal(runner.dump_signal, runner.dump_previous)
            if runner.instrumented:
                runner.instruments.call("after_run")
    finally:
        try:
            for cleanup in reversed(cleanups):
                if cleanup is not None:
                    cleanup()
        finally:
            sniffio.thread_local.name = previous_library
            context.set_runner(None)


def _install_dump_signal(runner: Runner, signum: int) -> None:
    # The handler only queues the dump: it is printed on the loop's thread
    # between steps, where the tree holds still (a wakeup fd wakes the poll).
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("dump_signal works only when the runtime runs in the main thread")
    token = runner.token
    runner.dump_previous = signal.signal(
        signum, lambda signum, frame: token.run_sync_soon(dump_tasks))
