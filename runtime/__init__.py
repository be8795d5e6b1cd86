"""runtime: an async runtime built like Tokio on mio.

Layers (each uses only the one below): `runtime.reactor` (the OS event queue),
`runtime.executor` (tasks, wakers, the run loop), `runtime.io` (sockets).
This module is the small public surface; ``tests/test_exports.py`` keeps it
honest.

The names below are imported on first use (PEP 562), so that
``import runtime.reactor`` loads the reactor and nothing above it: the layering
rule holds even though the package's own ``__init__`` runs first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["BrokenResourceError", "BusyResourceError", "Cancelled", "ClosedResourceError",
         "EndOfChannel", "IncompleteReadError", "Lagged", "LineTooLong", "RunFinishedError",
         "WouldBlock"],
        "runtime.errors",
    ),
    **dict.fromkeys(
        ["CancelScope", "fail_after", "fail_at", "move_on_after", "move_on_at"],
        "runtime.executor.cancel",
    ),
    "Runner": "runtime.executor.runner",
    **dict.fromkeys(["run", "spawn"], "runtime.executor.entry"),
    **dict.fromkeys(
        ["check_cancelled", "current_effective_deadline", "current_task", "running_tasks"],
        "runtime.executor.introspect",
    ),
    "JoinHandle": "runtime.executor.task",
    **dict.fromkeys(["TaskGroup", "TaskStatus"], "runtime.executor.task_group"),
    **dict.fromkeys(["current_default_thread_limiter", "to_thread"],
                    "runtime.executor.threads"),
    **dict.fromkeys(["CapacityLimiter", "CapacityLimiterStatistics"],
                    "runtime.executor.limiter"),
    **dict.fromkeys(["RuntimeToken", "current_token"], "runtime.executor.reentry"),
    **dict.fromkeys(["Process", "open_process", "run_process"], "runtime.io.process"),
    "PipeStream": "runtime.io.pipe",
    **dict.fromkeys(["SignalReceiver", "open_signal_receiver"],
                    "runtime.executor.signal_receiver"),
    **dict.fromkeys(["checkpoint", "yield_now"], "runtime.executor.traps"),
    "dump_tasks": "runtime.executor.task_dump",
    **dict.fromkeys(["current_time", "sleep", "sleep_until"], "runtime.time"),
    **dict.fromkeys(["Condition", "Event", "Lock", "Semaphore"], "runtime.sync"),
    **dict.fromkeys(
        ["BroadcastReceiver", "BroadcastSender", "OneshotReceiver", "OneshotSender", "Receiver",
         "Sender", "broadcast", "channel", "oneshot"],
        "runtime.channels",
    ),
}
_SUBMODULES = {"executor", "from_thread", "io", "lowlevel", "reactor", "testing"}

# Spelled out so tools see the exports; a test checks it matches _EXPORTS.
__all__ = [
    "BroadcastReceiver",
    "BroadcastSender",
    "BrokenResourceError",
    "BusyResourceError",
    "CancelScope",
    "Cancelled",
    "CapacityLimiter",
    "CapacityLimiterStatistics",
    "ClosedResourceError",
    "Condition",
    "EndOfChannel",
    "Event",
    "IncompleteReadError",
    "JoinHandle",
    "Lagged",
    "LineTooLong",
    "Lock",
    "OneshotReceiver",
    "OneshotSender",
    "PipeStream",
    "Process",
    "Receiver",
    "RunFinishedError",
    "Runner",
    "RuntimeToken",
    "Semaphore",
    "Sender",
    "SignalReceiver",
    "TaskGroup",
    "TaskStatus",
    "WouldBlock",
    "broadcast",
    "channel",
    "check_cancelled",
    "checkpoint",
    "current_default_thread_limiter",
    "current_effective_deadline",
    "current_task",
    "current_time",
    "current_token",
    "dump_tasks",
    "fail_after",
    "fail_at",
    "from_thread",
    "lowlevel",
    "move_on_after",
    "move_on_at",
    "oneshot",
    "open_process",
    "open_signal_receiver",
    "run",
    "run_process",
    "running_tasks",
    "sleep",
    "sleep_until",
    "spawn",
    "testing",
    "to_thread",
    "yield_now",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"runtime.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


if TYPE_CHECKING:
    from . import from_thread, lowlevel, testing
    from .channels import (
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
        IncompleteReadError,
        Lagged,
        LineTooLong,
        RunFinishedError,
        WouldBlock,
    )
    from .executor.cancel import CancelScope, fail_after, fail_at, move_on_after, move_on_at
    from .executor.entry import run, spawn
    from .executor.introspect import (
        check_cancelled,
        current_effective_deadline,
        current_task,
        running_tasks,
    )
    from .executor.limiter import CapacityLimiter, CapacityLimiterStatistics
    from .executor.reentry import RuntimeToken, current_token
    from .executor.runner import Runner
    from .executor.signal_receiver import SignalReceiver, open_signal_receiver
    from .executor.task import JoinHandle
    from .executor.task_dump import dump_tasks
    from .executor.task_group import TaskGroup, TaskStatus
    from .executor.threads import current_default_thread_limiter, to_thread
    from .executor.traps import checkpoint, yield_now
    from .io.pipe import PipeStream
    from .io.process import Process, open_process, run_process
    from .sync import Condition, Event, Lock, Semaphore
    from .time import current_time, sleep, sleep_until
