"""Cancel scopes, task groups and task introspection: anyio's names over runtime's."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from contextvars import Context
from functools import partial
from types import TracebackType
from typing import Any, Generic, Literal, Self

from anyio import TaskInfo, abc
from anyio._core._tasks import CancelScope as BaseCancelScope
from anyio._core._tasks import TaskHandle
from anyio.abc._tasks import T_contra, call_for_coroutine, get_callable_name, get_coro_name

import runtime

#: The value `_TaskStatus` holds until `started` is called.
_NOT_STARTED = object()


class CancelScope(BaseCancelScope):
    """anyio's `CancelScope` around a `runtime.CancelScope` (made here or a group's)."""

    __slots__ = ("_scope",)

    def __new__(cls, original: runtime.CancelScope | None = None, **kwargs: Any) -> Self:
        return object.__new__(cls)

    def __init__(self, original: runtime.CancelScope | None = None, *,
                 deadline: float = math.inf, shield: bool = False) -> None:
        self._scope = original or runtime.CancelScope(deadline=deadline, shield=shield)

    def __enter__(self) -> Self:
        self._scope.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> bool:
        return self._scope.__exit__(exc_type, exc_val, exc_tb)

    def cancel(self, reason: str | None = None) -> None:
        self._scope.cancel(reason)

    @property
    def deadline(self) -> float:
        return self._scope.deadline

    @deadline.setter
    def deadline(self, value: float) -> None:
        self._scope.deadline = value

    @property
    def cancel_called(self) -> bool:
        return self._scope.cancel_called

    @property
    def cancelled_caught(self) -> bool:
        return self._scope.cancelled_caught

    @property
    def shield(self) -> bool:
        return self._scope.shield

    @shield.setter
    def shield(self, value: bool) -> None:
        self._scope.shield = value


class _TaskStatus(abc.TaskStatus[T_contra], Generic[T_contra]):
    """anyio's task status: ``started`` before the coroutine even runs is allowed."""

    def __init__(self) -> None:
        self.early_value: Any = _NOT_STARTED
        self.real: runtime.TaskStatus[Any] | None = None

    def started(self, value: T_contra | None = None) -> None:
        if self.early_value is not _NOT_STARTED:
            raise RuntimeError("called 'started' twice on the same task status")
        self.early_value = value
        if self.real is not None:
            self.real.started(value)


class TaskGroup(abc.TaskGroup):
    """anyio's `TaskGroup` over a `runtime.TaskGroup`."""

    def __init__(self) -> None:
        self._group = runtime.TaskGroup()
        self._entered = False
        self._active = False
        self.cancel_scope = CancelScope(self._group.cancel_scope)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("TaskGroup cannot be entered more than once")
        self._entered = self._active = True
        await self._group.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> bool:
        try:
            return await self._group.__aexit__(exc_type, exc_val, exc_tb)
        finally:
            del exc_val, exc_tb
            self._active = False

    def _check_active(self, coro: Coroutine[Any, Any, Any] | None = None) -> None:
        if not self._active:
            if coro is not None:
                coro.close()
            raise RuntimeError("This task group is not active; no new tasks can be started.")

    def create_task(self, coro: Coroutine[Any, Any, Any], *, name: object = None,
                    context: Context | None = None) -> TaskHandle[Any]:
        if not isinstance(coro, Coroutine):
            raise TypeError(f"expected a coroutine, got {coro.__class__.__qualname__}")
        self._check_active(coro)
        handle: TaskHandle[Any] = TaskHandle(coro, get_coro_name(coro, name))
        spawn = partial(self._group.spawn, handle._run_coro(), name=handle.name)
        if context is not None:
            context.run(spawn)
        else:
            spawn()
        return handle

    async def start(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: object,
                    name: object = None, return_handle: Literal[False, True] = False) -> Any:
        handle: TaskHandle[Any]

        async def run_with_task_status(*, task_status: runtime.TaskStatus[Any]) -> None:
            nonlocal handle
            status: _TaskStatus[Any] = _TaskStatus()
            coro = call_for_coroutine(func, args, task_status=status)
            if status.early_value is not _NOT_STARTED:
                task_status.started(status.early_value)
            else:
                status.real = task_status
            handle = TaskHandle(coro, final_name)
            await handle._run_coro()

        self._check_active()
        final_name = get_callable_name(func, name)
        value = await self._group.start(run_with_task_status, name=final_name)
        if return_handle:
            handle._start_value = value
            return handle
        return value


class RuntimeTaskInfo(TaskInfo):
    """anyio's view of a `runtime` task."""

    def __init__(self, task: Any) -> None:
        super().__init__(task.id, task.parent_id, task.name, task.coro)
        self._task = task

    def has_pending_cancellation(self) -> bool:
        return not self._task.finished and bool(self._task.cancel_pending())
