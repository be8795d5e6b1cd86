"""`Task` (a coroutine and its state), its `Waker`, and `JoinHandle`."""

from __future__ import annotations

import contextvars
import itertools
import logging
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import context
from .traps import Abort, checkpoint_if_cancelled, park

if TYPE_CHECKING:
    from .cancel import CancelScope
    from .runner import Runner

T = TypeVar("T")
logger = logging.getLogger("runtime")
_ids = itertools.count(1)


class Waker:
    """Puts its task back on the run queue: once, however often it is called.

    Leaf awaitables store ``current_task().waker`` wherever readiness will
    come from (the IO driver, a timer, a lock) and park; whoever makes the
    task ready calls `wake`. Safe from any thread (another thread's wake goes
    through the runner's queue and the reactor's `Waker`). Waking a finished
    task is a no-op; a task may be woken spuriously and must re-check.

    A task is its own waker (``task.waker is task``), as in tokio, where a
    waker is a pointer to the task's header: no object per task, and no
    reference cycle between the two.
    """

    __slots__ = ()
    runner: Runner

    def wake(self) -> None:
        self.runner.wake(self)  # type: ignore[arg-type]


class Task(Waker):
    """A coroutine plus what the run loop needs to step it.

    Public to read: ``name``, ``id`` (unique in the process), ``parent``
    (and ``parent_id``), ``coro``; `runtime.current_task` returns the
    running one.

    ``scheduled`` is true while the task sits in the runner's run queue; a task that
    is neither scheduled nor running is parked and only a `Waker` (or a
    cancellation) brings it back.
    """

    __slots__ = (
        "__weakref__",
        "_parent",
        "abort",
        "aborted",
        "call",
        "cancellable",
        "context",
        "coro",
        "exception",
        "finished",
        "id",
        "join_wakers",
        "name",
        "on_done",
        "parent_id",
        "pending_exc",
        "reporter",
        "result",
        "runner",
        "scheduled",
        "scope",
    )

    def __init__(self, coro: Coroutine[Any, Any, Any], runner: Runner, scope: CancelScope,
                 name: str | None, parent: Task | None = None) -> None:
        self.coro = coro
        #: What the run loop calls instead of stepping: a `CallbackWaker`'s
        #: function; None, a task's. A slot, as the loop reads it per step (a
        #: class attribute cost 229 instructions a sleep(0) under callgrind).
        self.call: Callable[[], object] | None = None
        self.id: int = next(_ids)
        # Weakly: a task that spawns its successor and returns must not keep
        # a chain of finished ancestors alive.
        self._parent = None if parent is None else weakref.ref(parent)
        self.parent_id = None if parent is None else parent.id
        self.runner = runner
        self.scope = scope
        # An empty name is a name (anyio and trio keep it); None means "say what it runs".
        self.name = name if name is not None else (
            getattr(coro, "__qualname__", None) or repr(coro))
        self.context = contextvars.copy_context()
        self.scheduled = False
        self.cancellable = True
        #: The abort callback of the park it is in, if any (`traps.park`).
        self.abort: Abort | None = None
        self.aborted = False
        self.finished = False
        self.pending_exc: BaseException | None = None
        self.result: Any = None
        self.exception: BaseException | None = None
        self.join_wakers: list[Waker] | None = None
        self.on_done: Callable[[Task], None] | None = None
        self.reporter: _UnretrievedException | None = None

    def adopt_into(self, parent: Task | None) -> None:
        """Make ``parent`` this task's parent: the owner of the task group it
        now runs in (trio's rule: a nursery's child is its owner's child,
        whoever spawned it)."""
        self._parent = None if parent is None else weakref.ref(parent)
        self.parent_id = None if parent is None else parent.id

    @property
    def parent(self) -> Task | None:
        """The task that spawned this one, or for a task group's child the group's
        owner (as in trio); None for a main task, or once it is gone."""
        return None if self._parent is None else self._parent()

    @property
    def waker(self) -> Waker:
        """What to store for a later `Waker.wake`: the task itself."""
        return self

    def cancel_pending(self) -> bool:
        """Is a cancellation visible to this task right now? (level-triggered)"""
        if not self.runner.live_cancels:
            return False
        scope: CancelScope | None = self.scope
        while scope is not None:
            if scope.cancel_called:
                return True
            if scope.shield:
                return False
            scope = scope.parent
        return False

    def cancel_reason(self) -> str:
        """What the `Cancelled` thrown into this task says: the innermost
        cancelled scope's reason (`CancelScope.cancel`), or the abort."""
        if self.aborted:
            return f"task {self.name!r} was aborted"
        scope: CancelScope | None = self.scope
        while scope is not None:
            if scope.cancel_called:
                return scope._reason
            if scope.shield:
                break
            scope = scope.parent
        return "cancel scope was cancelled"

    def __repr__(self) -> str:
        if self.finished:
            state = "finished"
        elif self.runner.current is self:
            state = "running"
        else:
            state = "scheduled" if self.scheduled else "parked"
        return f"<Task {self.id} {self.name} {state}>"


class _UnretrievedException:
    """Logs a task's exception if nobody retrieved it (asyncio's warning).

    A separate object so that only failed tasks pay for a ``__del__``: it
    dies with the task, i.e. once the runner and every `JoinHandle` let go.
    """

    __slots__ = ("exc", "name")

    def __init__(self, name: str, exc: BaseException) -> None:
        self.name = name
        self.exc: BaseException | None = exc

    def __del__(self) -> None:
        if self.exc is not None:
            logger.error("exception in task %r was never retrieved", self.name,
                         exc_info=(type(self.exc), self.exc, self.exc.__traceback__))


class JoinHandle(Generic[T]):
    """The owner's side of a spawned task (tokio's ``JoinHandle``).

    ``await handle`` returns the task's result or re-raises its exception
    (`Cancelled` if it was aborted). Dropping the handle does not cancel the
    task; if the task failed and nobody awaited the handle, the exception is
    logged when the handle is garbage-collected.
    """

    __slots__ = ("_task",)

    def __init__(self, task: Task) -> None:
        self._task = task

    @property
    def name(self) -> str:
        return self._task.name

    def is_finished(self) -> bool:
        return self._task.finished

    def abort(self) -> None:
        """Cancel the task: it gets `Cancelled` at its next checkpoint.

        As if a cancel scope enclosing the task's whole body were cancelled
        (`AbortScope`): a shield inside the task holds it off, and the
        children of task groups the task opened are cancelled too.
        """
        self._task.runner.abort(self._task)

    def __await__(self) -> Generator[Any, Any, T]:
        return self._join().__await__()

    async def _join(self) -> T:
        task = self._task
        if task.finished:
            await checkpoint_if_cancelled()
        else:
            waker = context.runner().current.waker
            if task.join_wakers is None:
                task.join_wakers = []
            task.join_wakers.append(waker)
            try:
                while not task.finished:
                    await park()
            finally:
                if not task.finished:
                    task.join_wakers.remove(waker)
        if task.reporter is not None:
            task.reporter.exc = None
            task.reporter = None
        if task.exception is not None:
            raise task.exception
        return task.result  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<JoinHandle {self._task!r}>"
