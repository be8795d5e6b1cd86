"""Cancel scopes: trio's model of cancellation, deadlines and shields.

How cancellation travels
------------------------
Scopes form a tree. A task's ``scope`` is the innermost scope it is in; a
scope's ``parent`` is the scope it was entered inside (for a task-group
child, the group's scope). Each scope knows the tasks whose innermost scope
it is (``_tasks``) and the scopes nested in it (``_children``).

`CancelScope.cancel` sets ``cancel_called`` and walks that tree downwards,
stopping at shields. For each task found parked at a cancellable point, the
runner sets ``task.pending_exc = Cancelled(...)`` and schedules it; the next
step throws it into the coroutine at the `park` where it waits. Tasks that
are running or already scheduled notice at their next checkpoint, where
`Task.cancel_pending` walks the chain upwards. Because that check is made at
*every* checkpoint, cancellation is level-triggered: catching `Cancelled`
does not make it go away while the scope stays cancelled.

The exception travels up the stack to the outermost cancelled scope whose
cancellation it is (`CancelScope.__exit__`), which swallows it and sets
``cancelled_caught``.

The tree has one owner: only `CancelScope`'s own methods change it.
`adopt` (a task spawned into the scope), `release` (a task finished in it),
`reparent` (a task moved, with the scopes it entered itself, to hang from
another scope: entering and leaving a scope, `TaskStatus.started` moving a
child into its group, `AbortScope.around`) and `detach` (a root-like scope
leaving the tree) keep ``_tasks``, ``_children``, ``parent``, ``task.scope``
and the runner's count of live cancels in step.
"""

from __future__ import annotations

import enum
import math
from types import TracebackType

from ..errors import Cancelled
from . import context
from .task import Task


class ScopeState(enum.Enum):
    """Where a `CancelScope` is in its life."""

    NEW = "new"  # made, not entered yet
    ENTERED = "entered"  # its ``with`` block is running
    EXITED = "exited"  # its ``with`` block has ended
    ROOT = "root"  # a scope no ``with`` block enters (`RootScope`, `AbortScope`)


class CancelScope:
    """A ``with`` block that can be cancelled, or given a deadline.

    ``cancel()`` makes every checkpoint inside the block (in this task and
    in task-group children under it) raise `Cancelled`, which this scope
    catches at its end (``cancelled_caught`` is then true). ``deadline`` (in
    `current_time` seconds, settable) cancels the scope when it passes.
    ``shield=True`` keeps cancellation of outer scopes out until lifted.
    A scope is entered once.
    """

    __slots__ = (
        "_children",
        "_deadline",
        "_reason",
        "_relative",
        "_shield",
        "_task",
        "_tasks",
        "_timer",
        "cancel_called",
        "cancelled_caught",
        "parent",
        "state",
    )

    def __init__(self, deadline: float = math.inf, shield: bool = False) -> None:
        deadline = float(deadline)
        if math.isnan(deadline):
            raise ValueError("a cancel scope's deadline must not be NaN")
        self._deadline = deadline
        self._reason = "cancel scope was cancelled"  # what Cancelled says; set by cancel()
        self._relative = math.inf  # move_on_after's seconds, until entered
        self._shield = bool(shield)
        self.cancel_called = False
        self.cancelled_caught = False
        self.parent: CancelScope | None = None
        self._children: set[CancelScope] = set()
        self._tasks: set[Task] = set()
        self._task: Task | None = None
        self._timer: list | None = None
        self.state = ScopeState.NEW

    # -- the tree: the only methods that change it ----------------------------

    def adopt(self, task: Task) -> None:
        """``task`` was spawned into this scope (its innermost, for now)."""
        self._tasks.add(task)

    def release(self, task: Task) -> CancelScope:
        """``task`` finished in this scope; the scope it was spawned in.

        (This one; an `AbortScope` also leaves the tree and answers with the
        scope it was slid in under.)
        """
        self._tasks.discard(task)
        return self

    def reparent(self, task: Task, new: CancelScope) -> None:
        """Move ``task`` from under this scope to under ``new``.

        If this is the task's innermost scope, the task moves; otherwise the
        outermost of the scopes between the task and this one moves, taking
        the task and the rest of them along.
        """
        scope = task.scope
        if scope is self:
            self._tasks.discard(task)
            new._tasks.add(task)
            task.scope = new
            return
        while scope.parent is not self:
            scope = scope.parent  # type: ignore[assignment]
        self._children.discard(scope)
        scope._attach(new)

    def detach(self) -> None:
        """Leave the tree (a root-like scope that has served), and the count of live
        cancels if it was cancelled."""
        parent = self.parent
        if parent is not None:
            parent._children.discard(self)
        if self.cancel_called:
            context.runner().live_cancels -= 1

    def _attach(self, parent: CancelScope) -> None:
        self.parent = parent
        parent._children.add(self)

    # -- entering and leaving ------------------------------------------------

    def __enter__(self) -> CancelScope:
        if self.state is not ScopeState.NEW:
            raise RuntimeError("a CancelScope can be entered only once")
        task = context.runner().current
        self.state = ScopeState.ENTERED
        self._task = task
        self._attach(task.scope)
        task.scope.reparent(task, self)
        if self._relative != math.inf:
            # move_on_after/fail_after count from entering, not creating (trio).
            self._deadline = context.runner().clock() + self._relative
            self._relative = math.inf
        if self.cancel_called:
            # Cancelled before it was entered: counted live only now. (Not
            # after arming: an expired deadline's cancel() counts itself.)
            context.runner().live_cancels += 1
        elif self._deadline != math.inf:
            self._arm_deadline()
        return self

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        self._leave()
        if exc is None or not self._catches_cancellation():
            return False
        if isinstance(exc, Cancelled):
            self.cancelled_caught = True
            return True
        if isinstance(exc, BaseExceptionGroup):
            cancelled, rest = exc.split(Cancelled)
            if cancelled is not None:
                self.cancelled_caught = True
                if rest is None:
                    return True
                # The rest goes on as the group it was: with the original's
                # cause and context, not this one as its context (trio's way).
                context, cause, suppress = exc.__context__, exc.__cause__, exc.__suppress_context__
                try:
                    raise rest
                finally:
                    rest.__context__, rest.__cause__ = context, cause
                    rest.__suppress_context__ = suppress
                    del rest, exc, context, cause
        return False

    def _leave(self) -> None:
        task = self._task
        if task is None:
            done = "exited twice" if self.state is ScopeState.EXITED else "never entered"
            raise RuntimeError(f"a CancelScope was exited that was {done}")
        if task.scope is not self:
            raise RuntimeError(
                f"cancel scopes exited out of order in task {task.name!r}: "
                "a scope must be exited by the block that entered it"
            )
        self.state = ScopeState.EXITED
        self._disarm_deadline()
        parent = self.parent
        assert parent is not None
        self.reparent(task, parent)
        self.detach()
        # Forget the task: a scope kept by its user (a task group's, say)
        # must not keep the task, its result and its error alive.
        self._task = None

    def _catches_cancellation(self) -> bool:
        # The outermost cancelled scope catches: if an enclosing scope (not
        # behind our shield) is cancelled too, let Cancelled travel on to it.
        return self.cancel_called and not self._parent_cancelled()

    def _parent_cancelled(self) -> bool:
        if self._shield:
            return False
        scope = self.parent
        while scope is not None:
            if scope.cancel_called:
                return True
            if scope._shield:
                return False
            scope = scope.parent
        return False

    # -- cancelling ------------------------------------------------------------

    def cancel(self, reason: str | None = None) -> None:
        """Cancel everything inside this scope (idempotent, never blocks).

        The `Cancelled` raised inside says why: ``reason`` if given, and
        which task cancelled (trio's cancel reasons); an expired deadline
        says so.
        """
        if not self.cancel_called:
            self._cancel(_explicit_reason(reason))

    def _deadline_passed(self) -> None:
        if not self.cancel_called:
            self._cancel("cancelled due to deadline")

    def _cancel(self, reason: str) -> None:
        self._reason = reason  # before any task is told: their Cancelled is made now
        if self.state is ScopeState.NEW or self.state is ScopeState.EXITED:
            # No task is inside to tell.
            self.cancel_called = True
            self._disarm_deadline()
            return
        runner = context.runner_or_none()
        if runner is None:
            # Checked before anything changes: the runner's count of live
            # cancels (which lets checkpoints skip the scope walk) and the
            # run queue belong to its thread.
            raise RuntimeError(
                "CancelScope.cancel() called from a thread that is not running the "
                "runtime; cancel from a task (a worker thread can ask one, e.g. "
                "through a channel's send_from_thread)")
        self.cancel_called = True
        self._disarm_deadline()
        runner.live_cancels += 1
        self._deliver()

    def _deliver(self) -> None:
        runner = context.runner()
        stack = [self]
        while stack:
            scope = stack.pop()
            for task in scope._tasks:
                runner.deliver_cancel(task)
            stack.extend(child for child in scope._children if not child._shield)

    @property
    def shield(self) -> bool:
        return self._shield

    @shield.setter
    def shield(self, value: bool) -> None:
        self._shield = bool(value)
        if not self._shield and self.state is ScopeState.ENTERED and self._parent_cancelled():
            self._deliver()

    @property
    def deadline(self) -> float:
        self._check_not_relative()
        return self._deadline

    @deadline.setter
    def deadline(self, value: float) -> None:
        self._check_not_relative()
        value = float(value)
        if math.isnan(value):
            raise ValueError("a cancel scope's deadline must not be NaN")
        self._deadline = value
        if self.state is ScopeState.ENTERED and not self.cancel_called:
            self._disarm_deadline()
            if value != math.inf:
                self._arm_deadline()

    def _check_not_relative(self) -> None:
        if self._relative != math.inf:
            raise RuntimeError(
                "this move_on_after/fail_after scope has not been entered yet: "
                "its deadline counts from entering, so it has no absolute deadline"
            )

    def _arm_deadline(self) -> None:
        runner = context.runner()
        if self._deadline <= runner.clock():
            self._deadline_passed()
        else:
            self._timer = runner.timers.insert(self._deadline, self._deadline_passed)

    def _disarm_deadline(self) -> None:
        if self._timer is not None:
            context.runner().timers.cancel(self._timer)
            self._timer = None

    def __repr__(self) -> str:
        bits = [self.state.value]
        if self.cancel_called:
            bits.append("cancelled")
        if self._shield:
            bits.append("shielded")
        if self._deadline != math.inf:
            bits.append(f"deadline={self._deadline:.3f}")
        return f"<CancelScope {' '.join(bits)}>"


class RootScope(CancelScope):
    """A scope no task enters: the runner's root, and the main task's."""

    __slots__ = ()

    def __init__(self, parent: CancelScope | None = None) -> None:
        super().__init__()
        self.state = ScopeState.ROOT
        if parent is not None:
            self._attach(parent)


class AbortScope(RootScope):
    """The scope `JoinHandle.abort` slides around a whole task, then cancels.

    Made only when a task is aborted, so other tasks pay nothing for it. It
    goes between the scopes the task entered itself and the scope it was
    spawned in, so an abort is exactly a cancelled scope enclosing the task's
    body: shields inside the task hold it off until lifted, it reaches the
    children of task groups the task opened, and it stays level-triggered.
    It leaves the tree when the task finishes (`release`).
    """

    __slots__ = ()

    @classmethod
    def around(cls, task: Task) -> AbortScope:
        base = task.scope
        while base._task is task:  # the scopes this task entered itself
            base = base.parent  # type: ignore[assignment]
        scope = cls(parent=base)
        base.reparent(task, scope)
        return scope

    def release(self, task: Task) -> CancelScope:
        self._tasks.discard(task)
        self.detach()  # an AbortScope is always cancelled: one live cancel less
        assert self.parent is not None
        return self.parent


class FailScope(CancelScope):
    """A scope that turns its own expired deadline into `TimeoutError`."""

    __slots__ = ()

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        suppressed = super().__exit__(etype, exc, tb)
        if self.cancelled_caught:
            raise TimeoutError("the deadline of a fail_after/fail_at block expired") from exc
        return suppressed


def _explicit_reason(reason: str | None) -> str:
    runner = context.runner_or_none()
    task = None if runner is None else runner.current
    by = "" if task is None else f" by task {task.name!r}"
    return f"cancelled{by}" + ("" if reason is None else f" with reason {reason!r}")


def _check_seconds(seconds: float, what: str) -> float:
    seconds = float(seconds)
    if not seconds >= 0:
        raise ValueError(f"{what} needs a duration >= 0 seconds, got {seconds!r}")
    return seconds


def move_on_at(deadline: float, *, shield: bool = False) -> CancelScope:
    """A scope cancelled at ``deadline``: the block is left quietly."""
    return CancelScope(deadline=deadline, shield=shield)


def _relative(scope: CancelScope, seconds: float) -> CancelScope:
    scope._relative = seconds
    return scope


def move_on_after(seconds: float, *, shield: bool = False) -> CancelScope:
    """A scope cancelled ``seconds`` after it is entered: the block is left quietly.

    As in trio, the clock starts at ``with``, not at this call; until then
    the scope has no absolute ``deadline`` (reading it is a `RuntimeError`).
    """
    seconds = _check_seconds(seconds, "move_on_after")
    return _relative(CancelScope(shield=shield), seconds)


def fail_at(deadline: float, *, shield: bool = False) -> CancelScope:
    """Like `move_on_at`, but raise the built-in `TimeoutError` if it expires."""
    return FailScope(deadline=deadline, shield=shield)


def fail_after(seconds: float, *, shield: bool = False) -> CancelScope:
    """Like `move_on_after` (counting from entering), but raise the built-in
    `TimeoutError` if it expires."""
    seconds = _check_seconds(seconds, "fail_after")
    return _relative(FailScope(shield=shield), seconds)
