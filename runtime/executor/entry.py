"""The top-level calls: `runtime.run` (a one-shot `Runner`) and `runtime.spawn`."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from . import context
from .clock import Clock
from .runner import Runner
from .task import JoinHandle

T = TypeVar("T")


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> JoinHandle[T]:
    """Run ``coro`` as a new task, detached from the caller (tokio's ``spawn``).

    Returns its `JoinHandle`. The task is cancelled and awaited when ``main``
    ends if it is still running then. `RuntimeError` outside a runtime.
    """
    runner = context.runner_or_none()
    if runner is None:
        if isinstance(coro, Coroutine):
            coro.close()
        raise RuntimeError("runtime.spawn() called outside runtime.run()")
    return JoinHandle(runner.spawn(coro, runner.root_scope, name))


def run(main: Coroutine[Any, Any, T], *, backend: str | None = None, debug: bool = False,
        clock: Clock | None = None, instruments: Iterable[Any] = (),
        slow_step: float | None = None, dump_signal: int | None = None) -> T:
    """Run ``main`` to completion on a new runtime and return its result.

    A one-shot `Runner`. Re-raises ``main``'s exception. When ``main`` ends,
    tasks still running are cancelled and awaited (their ``finally`` blocks
    run) before `run` returns. Ctrl-C cancels ``main`` and makes `run` raise
    `KeyboardInterrupt`. ``backend`` picks the reactor (``None``:
    ``$RUNTIME_BACKEND`` or the platform's default; ``"uring"``: io_uring
    completions on Linux, raising `UringUnavailableError` where the kernel
    refuses it); ``debug`` logs steps that block the loop longer than
    ``slow_step`` seconds (0.1; giving ``slow_step`` turns it on), naming the
    task and the lines it ran between; ``clock`` replaces
    the system's clock (`runtime.testing.MockClock`: virtual time);
    ``instruments`` are installed before ``main`` starts (`runtime.lowlevel.add_instrument`);
    ``dump_signal`` (or ``$RUNTIME_DUMP_SIGNAL``) prints `runtime.dump_tasks` when it arrives.
    """
    if not isinstance(main, Coroutine):
        raise TypeError(
            f"runtime.run() needs a coroutine object, got {type(main).__name__} {main!r} "
            "(call the async function: run(main()) not run(main))"
        )
    if context.runner_or_none() is not None:
        main.close()
        raise RuntimeError(
            "runtime.run() called inside a running runtime; await the coroutine instead"
        )
    try:
        runner = Runner(backend, debug, clock=clock, instruments=instruments,
                        slow_step=slow_step, dump_signal=dump_signal)
    except BaseException:
        main.close()  # never started: no "coroutine was never awaited" warning
        raise
    with runner:
        return runner.run(main)
