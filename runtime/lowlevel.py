"""The building blocks the io layer (and adventurous users) build on."""

from __future__ import annotations

from .executor.introspect import current_task
from .executor.io_wait import notify_closing, scheduled_io, wait_readable, wait_writable
from .executor.task import Task, Waker
from .executor.traps import checkpoint_if_cancelled, park, park_uncancellable

__all__ = [
    "Task",
    "Waker",
    "checkpoint_if_cancelled",
    "current_task",
    "notify_closing",
    "park",
    "park_uncancellable",
    "scheduled_io",
    "wait_readable",
    "wait_writable",
]
