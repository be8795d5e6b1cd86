"""Calling into a runtime from another thread (trio's ``trio.from_thread``).

``runtime.from_thread.run_sync(fn, *args, token=token)`` makes ``fn(*args)``
run on the loop's thread and blocks this thread until it has, then returns
its result or raises its exception; `run` does the same for an async
function, run as a task. Inside a `runtime.to_thread` worker the token is
implicit; any other thread passes the `RuntimeToken` that
`runtime.current_token()` gave inside the runtime. Both go through
`RuntimeToken.run_sync_soon`: the loop is woken through the reactor's
`Waker`, and this thread waits on a plain lock the loop releases.

A runtime that has finished raises `RunFinishedError`; one that is open
between two `Runner.run` calls makes the call when the next one drives the
loop. Calling from the loop's own thread would deadlock: `RuntimeError`.
`check_cancelled` lets a worker ask whether its caller was cancelled.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import Cancelled
from .executor import context
from .executor.cancel import ScopeState
from .executor.reentry import RuntimeToken
from .executor.task import Task
from .executor.threads import worker

T = TypeVar("T")


class _Reply:
    """The answer a waiting thread gets back, and the lock it waits on."""

    __slots__ = ("error", "lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = None
        self.error: BaseException | None = None

    def wait(self) -> Any:
        self.lock.acquire()
        error, self.error = self.error, None
        if error is not None:
            raise error
        return self.value


def _token_for(token: RuntimeToken | None, what: str) -> RuntimeToken:
    here = context.runner_or_none()  # another runtime's thread may call into this one
    if here is not None and (token is None or token is here.token):
        raise RuntimeError(
            f"from_thread.{what}() called from the thread running the runtime (it would "
            "wait for itself); await the function directly instead")
    if token is None:
        token = worker.token
        if token is None:
            raise RuntimeError(
                f"from_thread.{what}() needs token= outside a runtime.to_thread worker "
                "(take one with runtime.current_token() inside the runtime)")
    elif not isinstance(token, RuntimeToken):
        raise TypeError(f"token= must be a RuntimeToken, got {type(token).__name__}")
    return token


def run_sync(fn: Callable[..., T], *args: Any, token: RuntimeToken | None = None) -> T:
    """Call ``fn(*args)`` on the runtime's thread; block until it returns; return or raise."""
    token = _token_for(token, "run_sync")
    reply = _Reply()
    # In this thread's context variables (a worker's: the task's, copied), as in trio.
    thread_context = contextvars.copy_context()

    def call() -> None:
        try:
            reply.value = thread_context.run(fn, *args)
        except BaseException as exc:
            reply.error = exc
        finally:
            reply.lock.release()

    token.run_sync_soon(call)
    return reply.wait()  # type: ignore[no-any-return]


def run(async_fn: Callable[..., Awaitable[T]], *args: Any,
        token: RuntimeToken | None = None) -> T:
    """Run ``await async_fn(*args)`` as a task of the runtime; block until it ends.

    Returns its result or raises its exception (`runtime.Cancelled` if it
    was cancelled). Called from a `to_thread` worker whose task waits for it
    (the default), the task runs inside that task's cancel scope, so
    cancelling the caller cancels it too; otherwise it is detached, and
    cancelled only when the runtime closes.
    """
    token = _token_for(token, "run")
    scope = worker.scope if token is worker.token else None
    reply = _Reply()
    thread_context = contextvars.copy_context()

    def done(task: Task) -> None:
        reply.value, reply.error = task.result, task.exception
        reply.lock.release()

    def start() -> None:
        try:
            coro = thread_context.run(async_fn, *args)
            runner = context.runner()
            entered = scope is not None and scope.state is ScopeState.ENTERED
            into = scope if entered else runner.root_scope
            task = runner.spawn(coro, into,  # type: ignore[arg-type]
                                name=getattr(async_fn, "__qualname__", None))
        except BaseException as exc:
            reply.error = exc
            reply.lock.release()
        else:
            task.on_done = done
            task.context = thread_context  # the task runs in the calling thread's variables

    token.run_sync_soon(start)
    return reply.wait()  # type: ignore[no-any-return]


def check_cancelled() -> None:
    """In a `to_thread` worker: raise `Cancelled` if the task that called
    `to_thread` has been cancelled (trio's ``from_thread.check_cancelled``).

    A long call polls it to stop early: with ``abandon_on_cancel=False`` the
    task is waiting for the thread and gets the result (or this
    `Cancelled`) back; with ``True`` it has already left, and this tells the
    thread its work is unwanted. `RuntimeError` in any other thread.
    """
    call = worker.call
    if call is None:
        raise RuntimeError("from_thread.check_cancelled() called outside a runtime.to_thread "
                           "worker (only a worker has a task to ask)")
    if call.caller_cancelled():
        raise Cancelled("the task waiting for this thread was cancelled")


__all__ = ["check_cancelled", "run", "run_sync"]
