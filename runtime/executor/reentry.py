"""Calling into the loop from another thread: `RuntimeToken` (trio's ``TrioToken``).

Another thread may not touch the run queue, a task or a scope: they belong
to the thread that drives the loop. It hands the loop a function instead:
`RuntimeToken.run_sync_soon` appends ``(fn, args)`` to the runner's
`EntryQueue` and wakes the loop through the reactor's `Waker` (one write,
and none if a wake is already on its way); at step 3 of its turn the loop
calls what has queued, in order, on its own thread. `runtime.from_thread`
and `to_thread` build on it.

A call the queue accepts is made before the `Runner` closes (trio's
promise); once it has closed, `run_sync_soon` raises `RunFinishedError`.
The lock makes those two exclusive: `close` marks the queue done under it,
then makes what is left.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import RunFinishedError
from . import context


class EntryQueue:
    """Calls from other threads, waiting for the loop's thread to make them."""

    __slots__ = ("_lock", "_poke", "calls", "done")

    def __init__(self, poke: Callable[[], None]) -> None:
        #: Reentrant: a signal handler may queue a call while this thread holds it.
        self._lock = threading.RLock()
        self._poke = poke
        self.calls: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self.done = False

    def put(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        with self._lock:
            if self.done:
                raise RunFinishedError(
                    "the runtime this token belongs to has finished (its Runner is closed)")
            self.calls.append((fn, args))
            self._poke()

    def run_queued(self, failed: Callable[[BaseException], None]) -> None:
        """Make the calls queued now (not those they queue: a bounded turn)."""
        calls = self.calls
        for _ in range(len(calls)):
            fn, args = calls.popleft()
            try:
                fn(*args)
            except BaseException as exc:
                failed(exc)

    def finish(self) -> bool:
        """Refuse new calls if none is queued; True once refused."""
        with self._lock:
            if not self.calls:
                self.done = True
            return self.done


class RuntimeToken:
    """One `Runner`, as other threads may reach it: see `current_token`.

    Weakly referenceable: libraries keep per-loop state keyed by the token
    (anyio's ``RunVar`` and its caches, as trio's ``TrioToken`` allows).
    """

    __slots__ = ("__weakref__", "_entries")

    def __init__(self, entries: EntryQueue) -> None:
        self._entries = entries

    def run_sync_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop's thread, soon; safe from any thread.

        Calls are made in the order they were queued, outside any task. An
        exception from ``fn`` cancels the current `Runner.run`'s main task
        and is raised by it. Raises `RunFinishedError` if the runner has
        closed; any call accepted is made before it closes.
        """
        self._entries.put(fn, args)

    def __repr__(self) -> str:
        return f"<RuntimeToken {id(self):#x}>"


def current_token() -> RuntimeToken:
    """The running `Runner`'s `RuntimeToken`, to hand to other threads."""
    return context.runner().token
