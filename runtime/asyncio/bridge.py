"""One loop, two APIs: asyncio inside ``runtime.run``, and awaiting across.

Once `runtime.asyncio` is imported, every runtime (``runtime.run``, or a
``runtime.Runner``) gets a `RuntimeEventLoop` attached to its runner
(`runtime.lowlevel.on_run`): while it drives its loop,
``asyncio.get_running_loop()`` returns it, and asyncio callbacks, tasks,
transports and timers run in the same run loop, on the same reactor, in the
same thread as the runtime's tasks. A `Runner` keeps its asyncio loop from
one ``run`` call to the next, as it keeps its parked tasks (between calls
no loop is running in the thread); the loop is closed when the runtime
closes (``runtime.run`` returns, or ``Runner.close``). asyncio tasks still
pending then are abandoned (asyncio logs them), so await what you start.

Awaiting across
---------------
* `aio_as_runtime` (trio-asyncio's ``aio_as_trio``): a runtime task awaits
  an asyncio awaitable, run as an asyncio Task. If the runtime task is
  cancelled (a cancel scope), the asyncio Task is cancelled — its coroutine
  sees `asyncio.CancelledError` — the runtime task waits for it to finish,
  then raises `runtime.Cancelled`. If the asyncio side is cancelled on its
  own, the runtime task gets `asyncio.CancelledError`, an ordinary exception
  to it.
* `runtime_as_aio`: an asyncio coroutine awaits a runtime coroutine, run as a
  runtime task. Cancelling the awaiting asyncio Task aborts the runtime task
  (`runtime.Cancelled` at its next checkpoint, its ``finally`` blocks run)
  and waits for it; then `asyncio.CancelledError` is raised. A runtime task
  cancelled by its own scope shows as `asyncio.CancelledError` too.

The models differ: asyncio's cancellation is one-shot (``Task.cancel``
throws once, and can be swallowed), a cancel scope's is level-triggered
(every checkpoint in the scope raises until the scope exits).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from asyncio import events
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..errors import Cancelled
from ..lowlevel import Host, current_task, on_run, park, park_uncancellable
from .loop import RuntimeEventLoop

T = TypeVar("T")


def _loop_of(host: Host) -> RuntimeEventLoop:
    """The runtime's loop (`Host.attached`): one made with the runtime
    (``new_event_loop``), or one made here as it first drives, closed as it
    closes."""
    loop: RuntimeEventLoop | None = host.attached.get("asyncio")
    if loop is None:
        loop = host.attached["asyncio"] = RuntimeEventLoop(host)
        made = loop

        def closed() -> None:
            host.attached.pop("asyncio", None)
            made.close()

        host.on_close(closed)
    return loop


def _attach(host: Host) -> Callable[[], None] | None:
    if events._get_running_loop() is not None:
        return None  # runtime.run() inside a running asyncio loop's thread: leave it be
    loop = _loop_of(host)
    if loop.is_closed():
        return None  # its own loop's close() closing the runtime: no loop runs now
    loop._thread_id = threading.get_ident()
    old_agen_hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook,
                           finalizer=loop._asyncgen_finalizer_hook)
    events._set_running_loop(loop)

    def detach() -> None:
        events._set_running_loop(None)
        sys.set_asyncgen_hooks(*old_agen_hooks)
        loop._thread_id = None

    return detach


on_run(_attach)


def _running_runtime_loop() -> RuntimeEventLoop:
    loop = events._get_running_loop()
    if not isinstance(loop, RuntimeEventLoop):
        raise RuntimeError(
            "this needs a running runtime.asyncio loop (inside runtime.run or "
            f"runtime.asyncio.run), not {loop!r}")
    return loop


async def aio_as_runtime(aw: Awaitable[T]) -> T:
    """From a runtime task, await ``aw`` (an asyncio coroutine or future) and return its result."""
    loop = _running_runtime_loop()
    fut = asyncio.ensure_future(aw, loop=loop)
    waker = current_task().waker

    def done(_: asyncio.Future[Any]) -> None:
        waker.wake()

    fut.add_done_callback(done)
    try:
        while not fut.done():
            await park()
    except Cancelled:
        fut.cancel()
        while not fut.done():
            await park_uncancellable()
        raise
    finally:
        fut.remove_done_callback(done)
    return fut.result()


async def runtime_as_aio(coro: Coroutine[Any, Any, T]) -> T:
    """From asyncio code, await the runtime coroutine ``coro`` (run as a runtime task)."""
    loop = _running_runtime_loop()
    outcome: asyncio.Future[T] = loop.create_future()

    async def body() -> None:
        try:
            result = await coro
        except Cancelled:
            if not outcome.done():
                outcome.cancel()
            raise
        except BaseException as exc:
            if not outcome.done():
                outcome.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not outcome.done():
                outcome.set_result(result)

    handle = loop._host.spawn(body(), name=getattr(coro, "__qualname__", None))
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:
        if outcome.done():
            raise
        handle.abort()
        while not outcome.done():
            try:
                await asyncio.shield(outcome)
            except asyncio.CancelledError:
                pass
        raise
