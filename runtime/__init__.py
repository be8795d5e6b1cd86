"""runtime: an async runtime built like Tokio on mio.

Layers (each uses only the one below): `runtime.reactor` (the OS event queue),
`runtime.executor` (tasks, wakers, the run loop), `runtime.io` (sockets).
This module is the small public surface; ``tests/test_exports.py`` keeps it honest.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from . import lowlevel
from .channel import (
    BroadcastReceiver,
    BroadcastSender,
    OneshotReceiver,
    OneshotSender,
    Receiver,
    Sender,
    broadcast,
    channel,
    oneshot,
)
from .errors import (
    BrokenResourceError,
    BusyResourceError,
    Cancelled,
    ClosedResourceError,
    EndOfChannel,
    Lagged,
    WouldBlock,
)
from .executor import (
    CancelScope,
    JoinHandle,
    TaskGroup,
    TaskStatus,
    fail_after,
    fail_at,
    move_on_after,
    move_on_at,
    run,
)
from .executor import context as _context
from .executor.threads import to_thread
from .executor.traps import checkpoint, yield_now
from .sync import Condition, Event, Lock, Semaphore
from .time import current_time, sleep, sleep_until

T = TypeVar("T")


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> JoinHandle[T]:
    """Run ``coro`` as a new task, detached from the caller (tokio's ``spawn``).

    Returns its `JoinHandle`. The task is cancelled and awaited when ``main``
    ends if it is still running then. `RuntimeError` outside a runtime.
    """
    runner = _context.runner_or_none()
    if runner is None:
        if isinstance(coro, Coroutine):
            coro.close()
        raise RuntimeError("runtime.spawn() called outside runtime.run()")
    return JoinHandle(runner.spawn(coro, runner.root_scope, name))


__all__ = [
    "BroadcastReceiver",
    "BroadcastSender",
    "BrokenResourceError",
    "BusyResourceError",
    "CancelScope",
    "Cancelled",
    "ClosedResourceError",
    "Condition",
    "EndOfChannel",
    "Event",
    "JoinHandle",
    "Lagged",
    "Lock",
    "OneshotReceiver",
    "OneshotSender",
    "Receiver",
    "Semaphore",
    "Sender",
    "TaskGroup",
    "TaskStatus",
    "WouldBlock",
    "broadcast",
    "channel",
    "checkpoint",
    "current_time",
    "fail_after",
    "fail_at",
    "lowlevel",
    "move_on_after",
    "move_on_at",
    "oneshot",
    "run",
    "sleep",
    "sleep_until",
    "spawn",
    "to_thread",
    "yield_now",
]
