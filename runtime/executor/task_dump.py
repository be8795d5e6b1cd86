"""A task dump: every task, what it waits on, where, and under which cancel scopes.

When a program hangs, the question is "which task is waiting on what?".
`task_tree` answers it from what the runtime already holds: the cancel-scope
tree (every live task sits in its innermost scope, `cancel.py`) gives the
shape; each task's coroutine chain (``cr_await``, down to the trap it parked
on) gives its await stack; and the frames of the runtime's own waits say
what it is waiting for, from their local variables (the fd of a
`wait_ready`, the deadline of a `sleep_until`, the owner of a `Lock`...),
so nothing is recorded on the hot path to make the dump possible.

`dump_tasks` prints it. ``runtime.run(main(), dump_signal=signal.SIGUSR1)``
(or ``RUNTIME_DUMP_SIGNAL=USR1`` in the environment, for a program you did
not write) prints it whenever that signal arrives, without stopping the
program.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from . import context

if TYPE_CHECKING:
    from .cancel import CancelScope
    from .runner import Runner
    from .task import Task

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class TaskInfo:
    """One task in the dump."""

    id: int
    name: str
    state: str  # "running", "ready" or "parked"
    waiting_on: str  # for a parked task: what it waits for ("" otherwise)
    stack: list[str]  # "file:line in function", outermost first


@dataclass
class ScopeInfo:
    """One cancel scope (a task group's, a ``move_on_after``'s...) and what is in it."""

    deadline: float  # seconds from now; inf: none
    shield: bool
    cancelled: bool
    tasks: list[TaskInfo] = field(default_factory=list)
    scopes: list[ScopeInfo] = field(default_factory=list)


def _frames(coro: Any) -> list[FrameType]:
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def code_location(coro: Any) -> str:
    """Where a suspended coroutine stands: file:line of the innermost frame of its
    await chain outside runtime's own package (or the innermost one); for
    `Runner`'s slow-step warnings."""
    found = None
    for frame in _frames(coro):
        if found is None or not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            found = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    return found or "?"


def _describe_wait(frames: list[FrameType], now: float) -> str:
    """What the innermost known wait in ``frames`` is waiting for."""
    what = ""
    resource = ""
    ring_op = ""  # io_uring: an operation submitted on a socket, not a readiness wait
    fallback = ""
    for frame in frames:
        code, local = frame.f_code, frame.f_locals
        name = code.co_qualname
        owner = local.get("self")
        if not ring_op and owner is not None and hasattr(owner, "_driver") \
                and hasattr(owner, "sock"):
            try:
                ring_op = f"{code.co_name} on fd {owner.sock.fileno()} (io_uring)"
            except OSError:
                ring_op = f"{code.co_name} (io_uring)"
        if owner is not None and resource == "" and hasattr(owner, "_describe"):
            try:
                resource = f" ({type(owner).__name__} {owner._describe()})"
            except Exception:  # a half-closed object: the dump goes on without it
                resource = f" ({type(owner).__name__})"
        if hasattr(local.get("sio"), "fd"):
            # A wait on the IO driver (io_wait.wait_ready, or a source's own
            # recv/send with the wait written out): which direction, which fd.
            reading = local.get("reading")
            if reading is None:
                verb = name.rsplit(".", 1)[-1]
                reading = not verb.startswith(("send", "connect", "write"))
            what = f"{'readable' if reading else 'writable'} fd {local['sio'].fd}"
        elif name == "sleep_until" and "deadline" in local:
            deadline = local["deadline"]
            what = ("sleeping forever" if deadline == math.inf
                    else f"sleeping, {max(0.0, deadline - now):.1f} s left")
        elif name == "Lock.acquire" and owner is not None:
            holder = owner._owner
            what = ("Lock" if holder is None
                    else f"Lock owned by task {holder.id} ({holder.name!r})")
        elif name.endswith(("Receiver.recv", "Receiver.receive")):
            what = "channel recv"
        elif name.endswith(("Sender.send",)):
            what = "channel send"
        elif name == "Event.wait":
            what = "Event"
        elif name == "to_thread":
            what = "to_thread worker"
        elif name == "wait_child_exiting" and "pid" in local:
            what = f"child pid {local['pid']}"
        elif code.co_filename.startswith(_PACKAGE_DIR):
            fallback = f"in {name}"
    if not what and ring_op:
        what = ring_op
    if what.startswith(("readable", "writable")) or what == ring_op:
        what += resource
    return what or fallback or "parked"


def _task_info(task: Task, runner: Runner, now: float) -> TaskInfo:
    frames = _frames(task.coro)
    if task is runner.current:
        state, waiting = "running", ""
    elif task.scheduled:
        state, waiting = "ready", ""
    else:
        state, waiting = "parked", _describe_wait(frames, now)
    stack = [f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_qualname}" for f in frames]
    return TaskInfo(task.id, task.name, state, waiting, stack)


def _scope_info(scope: CancelScope, runner: Runner, now: float) -> ScopeInfo:
    info = ScopeInfo(deadline=scope._deadline - now, shield=scope.shield,
                     cancelled=scope.cancel_called)
    info.tasks = [_task_info(t, runner, now) for t in sorted(scope._tasks, key=lambda t: t.id)]
    children = (_scope_info(child, runner, now) for child in scope._children)
    info.scopes = [child for child in children if child.tasks or child.scopes]
    return info


def task_tree() -> ScopeInfo:
    """The running runtime's tasks as a tree of cancel scopes (the root first)."""
    runner = context.runner()
    return _scope_info(runner.root_scope, runner, runner.clock())


def format_tree(tree: ScopeInfo) -> str:
    lines: list[str] = []

    def scope(info: ScopeInfo, depth: int) -> None:
        pad = "  " * depth
        notes = []
        if info.deadline != math.inf:
            notes.append(f"deadline in {info.deadline:.1f} s")
        if info.shield:
            notes.append("shielded")
        if info.cancelled:
            notes.append("cancelled")
        if depth:  # the root scope is the runtime itself
            lines.append(f"{pad}scope" + (f" ({', '.join(notes)})" if notes else ""))
        for task in info.tasks:
            state = task.state + (f": {task.waiting_on}" if task.waiting_on else "")
            lines.append(f"{pad}  task {task.id} {task.name!r} {state}")
            lines.extend(f"{pad}      at {frame}" for frame in task.stack)
        for child in info.scopes:
            scope(child, depth + 1)

    scope(tree, 0)
    return "\n".join(lines)


def dump_tasks(file: TextIO | None = None) -> None:
    """Print every task of the running runtime as a tree (see `task_tree`)."""
    out = sys.stderr if file is None else file
    print("runtime task dump:", file=out)
    print(format_tree(task_tree()), file=out, flush=True)


def dump_signal_from_environment() -> int | None:
    """``RUNTIME_DUMP_SIGNAL`` (``USR1``, ``SIGUSR1`` or a number) as a signal number."""
    value = os.environ.get("RUNTIME_DUMP_SIGNAL", "").strip().upper()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    name = value if value.startswith("SIG") else f"SIG{value}"
    number = getattr(signal, name, None)
    if not isinstance(number, int):
        raise ValueError(f"RUNTIME_DUMP_SIGNAL={value!r} names no signal")
    return number
