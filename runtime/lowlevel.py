"""The building blocks the io layer (and adventurous users) build on.

`runtime.io` imports nothing from the executor but these names and the
executor's own public ones (``tests/test_layering.py`` checks): a socket's
`Source` (made by `socket_source`, for whichever backend the runtime runs
on), the waits on an fd's readiness, and the traps a leaf awaitable parks
with (trio's ``trio.lowlevel``).
"""

from __future__ import annotations

from .executor.child import wait_child_exiting
from .executor.host import CallbackWaker, Host, on_run
from .executor.instruments import add_instrument, remove_instrument
from .executor.introspect import current_task
from .executor.io_driver import ScheduledIo
from .executor.io_wait import notify_closing, scheduled_io, wait_readable, wait_writable
from .executor.ring_receiver import RingReceiver
from .executor.source import Source, socket_source
from .executor.task import Task, Waker
from .executor.task_dump import ScopeInfo, TaskInfo, task_tree
from .executor.traps import checkpoint, checkpoint_if_cancelled, park, park_uncancellable

__all__ = [
    "CallbackWaker",
    "Host",
    "RingReceiver",
    "ScheduledIo",
    "ScopeInfo",
    "Source",
    "Task",
    "TaskInfo",
    "Waker",
    "add_instrument",
    "checkpoint",
    "checkpoint_if_cancelled",
    "current_task",
    "notify_closing",
    "on_run",
    "park",
    "park_uncancellable",
    "remove_instrument",
    "scheduled_io",
    "socket_source",
    "task_tree",
    "wait_child_exiting",
    "wait_readable",
    "wait_writable",
]
