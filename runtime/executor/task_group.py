"""`TaskGroup`: structured concurrency (trio's nursery).

Children live inside the group's cancel scope. A child that raises cancels
the scope (so its siblings and the body get `Cancelled`); the group waits for
every child before its ``async with`` ends, then raises what failed as an
`ExceptionGroup`. `Cancelled` that the group's own scope caused is caught
there; one that belongs to an outer scope travels on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

from ..errors import Cancelled
from . import context
from .cancel import CancelScope
from .task import JoinHandle, Task
from .traps import park_uncancellable, yield_now

T = TypeVar("T")


class TaskGroup:
    """``async with TaskGroup() as tg: tg.spawn(child())`` — no child outlives the block."""

    __slots__ = ("_children", "_closed", "_errors", "_parent", "_starting", "_waiting",
                 "cancel_scope")

    def __init__(self) -> None:
        self.cancel_scope = CancelScope()
        self._children = 0
        #: start() calls whose child has not called started() yet: the group
        #: waits for them too (trio's nursery does), or started() would find
        #: it closed.
        self._starting = 0
        self._errors: list[BaseException] = []
        self._closed = False
        self._waiting = False
        self._parent: Task | None = None

    async def __aenter__(self) -> TaskGroup:
        self.cancel_scope.__enter__()
        self._parent = context.runner().current
        return self

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> JoinHandle[T]:
        """Start ``coro`` as a child of this group; returns its `JoinHandle`."""
        if self._closed:
            coro.close()
            raise RuntimeError("this TaskGroup is closed: spawn() after its async with block ended")
        task = context.runner().spawn(coro, self.cancel_scope, name)
        self._adopt(task)
        return JoinHandle(task)

    def _adopt(self, task: Task) -> None:
        task.on_done = self._child_done
        task.adopt_into(self._parent)
        self._children += 1

    def _child_done(self, task: Task) -> None:
        self._children -= 1
        exc = task.exception
        # An aborted child that ended by its abort's Cancelled was stopped on
        # purpose by its owner: not a failure, so its siblings go on.
        if exc is not None and not (task.aborted and isinstance(exc, Cancelled)):
            self._errors.append(exc)
            self.cancel_scope.cancel()
        self._wake_if_empty()

    def _wake_if_empty(self) -> None:
        if self._children == 0 and self._starting == 0 and self._waiting:
            assert self._parent is not None
            self._parent.waker.wake()

    async def start(self, fn: Callable[..., Awaitable[Any]], *args: Any,
                    name: str | None = None) -> Any:
        """Start ``fn(*args, task_status=...)`` and wait until it reports ready.

        The child calls ``task_status.started(value)``; `start` returns
        ``value`` and the child goes on in this group. Until then it runs
        under the caller's cancel scopes; if it fails (or returns) before
        calling `started`, `start` raises that error (or `RuntimeError`).
        If the caller's scope is cancelled when the child calls `started`,
        the child stays where it is and `start` waits for it to end (trio's
        rule), then raises its error or returns ``value`` late.
        """
        if self._closed:
            raise RuntimeError("this TaskGroup is closed: start() after its async with block ended")
        runner = context.runner()
        caller = runner.current
        status: TaskStatus[Any] = TaskStatus(self, caller)
        coro = fn(*args, task_status=status)
        task = runner.spawn(coro, caller.scope, name)  # type: ignore[arg-type]
        task.on_done = status._child_done
        status._task = task
        self._starting += 1
        try:
            while not (status._moved or task.finished):
                await park_uncancellable()
        finally:
            self._starting -= 1
            self._wake_if_empty()
        if status._moved:
            return status._value
        if task.exception is not None:
            raise task.exception
        if status._started:
            return status._value  # started under a cancelled scope: late
        raise RuntimeError(
            f"child exited without calling task_status.started() (task {task.name!r} returned)")

    async def __aexit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        if exc is not None:
            # In the order things failed, as trio does; once, when the body
            # re-raises a child's own exception (awaiting its JoinHandle).
            if not any(exc is e for e in self._errors):
                self._errors.append(exc)
            self.cancel_scope.cancel()
        self._waiting = True
        try:
            if not self._children and not self._starting:
                # Nothing to wait for: still a schedule point (not a cancel
                # point), as in trio, so a loop of short groups cannot starve
                # the other tasks.
                await yield_now()
            while self._children or self._starting:
                # Not cancellable: if an outer scope is cancelled, the
                # children (inside our scope) get Cancelled, and we wait.
                await park_uncancellable()
        finally:
            self._waiting = False
            self._closed = True
        scope = self.cancel_scope
        catches = scope._catches_cancellation()
        scope._leave()
        errors = self._errors
        kept: list[BaseException] = []
        e: BaseException | None = None  # the loop's names, cleared below with the rest
        rest: BaseException | None = None
        ours: BaseException | None = None
        if catches:
            # Our own Cancelled, wherever it is: bare, or inside the group a
            # nested TaskGroup raised (split out, as CancelScope.__exit__ does).
            for e in errors:
                rest = e
                if isinstance(e, BaseExceptionGroup):
                    ours, rest = e.split(Cancelled)
                    if ours is None:
                        rest = e  # no Cancelled in it: kept as it is, traceback and all
                elif isinstance(e, Cancelled):
                    rest = None
                if rest is not e:
                    scope.cancelled_caught = True
                if rest is not None:
                    kept.append(rest)
            errors = kept
        # What is raised below must not stay referenced from here (the list,
        # the arguments): that would keep every failed task's frames alive.
        self._errors = []
        try:
            if not errors:
                return True
            if all(isinstance(e, Cancelled) for e in errors):
                if any(e is exc for e in errors):
                    return False  # the body's own Cancelled goes on, traceback intact
                raise errors[0]
            # from None: the group holds the body's exception already; as a
            # __context__ too it would be printed twice (trio does the same).
            raise BaseExceptionGroup("exceptions from a TaskGroup", errors) from None
        finally:
            self._parent = None  # the host task, its result and error: not ours to keep
            # Every local that may hold an error goes: a frame that a kept
            # traceback still references (Python 3.12 keeps it) must not
            # hold the error it raised in a cycle.
            del errors, kept, exc, tb, e, rest, ours


class TaskStatus(Generic[T]):
    """Handed to a task started with `TaskGroup.start`; call `started` once."""

    __slots__ = ("_caller", "_group", "_moved", "_started", "_task", "_value")

    def __init__(self, group: TaskGroup, caller: Task) -> None:
        self._group = group
        self._caller = caller
        self._task: Task | None = None
        self._started = False
        #: started() moved the child into the group (not done if the caller's
        #: scope was cancelled by then).
        self._moved = False
        self._value: Any = None

    def started(self, value: T | None = None) -> None:
        """Report ready: `TaskGroup.start` returns ``value``; the task moves into the group.

        Unless the caller of `start` is cancelled by now: then, as in trio,
        the task stays under the caller's scopes (where its `Cancelled` will
        be caught) and `start` returns only once the task has ended.
        """
        if self._started:
            raise RuntimeError("task_status.started() was already called")
        task = self._task
        assert task is not None
        group = self._group
        if group._closed:
            raise RuntimeError("the TaskGroup this task was started in has closed")
        self._started = True
        self._value = value
        if self._caller.cancel_pending():
            # Moving a task that is about to raise Cancelled into a group
            # whose scope is not cancelled would let that Cancelled escape
            # the group uncaught; the caller waits for the task instead.
            return
        self._moved = True
        # Re-parent the child from the caller's scope to the group's.
        new = group.cancel_scope
        self._caller.scope.reparent(task, new)
        group._adopt(task)
        self._caller.waker.wake()
        if new.cancel_called:
            task.runner.deliver_cancel(task)

    def _child_done(self, task: Task) -> None:
        if self._moved:
            self._group._child_done(task)
        else:
            self._caller.waker.wake()
