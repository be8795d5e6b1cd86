"""The side-by-side adapter, extended with locks, events and channels.

`tests.helpers.sidebyside` gives ``run``/``sleep``/``spawn``; this adds the
primitives under one vocabulary (``fw.Lock()``, ``fw.channel(n)``,
``fw.recv(rx)``, ``fw.try_send(tx, x)`` …) and `settle`: return once every
other task is blocked (trio's ``wait_all_tasks_blocked``), so a scenario
can say "now all the waiters are queued" without sleeping.

trio runs the tasks of one batch in a random order, and finishes a ready
operation with a yield where `runtime` spends budget instead. So a scenario
lets at most one task become runnable per step, or settles before it looks.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import runtime
from runtime.executor import context
from tests.helpers.platform_gaps import needs_trio
from tests.helpers.sidebyside import CANCELLED, Framework, RuntimeFramework, TrioFramework

__all__ = ["CANCELLED", "SYNC_FRAMEWORKS", "SyncFramework"]


class SyncFramework(Framework):
    WouldBlock: type[Exception]
    EndOfChannel: type[Exception]
    BrokenResourceError: type[Exception]
    ClosedResourceError: type[Exception]

    def Lock(self) -> Any: ...
    def Event(self) -> Any: ...
    def Semaphore(self, value: int, max_value: int | None = None) -> Any: ...
    def Condition(self, lock: Any = None) -> Any: ...
    def channel(self, capacity: float) -> tuple[Any, Any]: ...
    async def settle(self) -> None: ...
    async def recv(self, rx: Any) -> Any: ...
    def try_recv(self, rx: Any) -> Any: ...
    def try_send(self, tx: Any, value: Any) -> None: ...
    def try_acquire(self, lock: Any) -> None: ...


class SyncRuntime(RuntimeFramework, SyncFramework):
    WouldBlock = runtime.WouldBlock
    EndOfChannel = runtime.EndOfChannel
    BrokenResourceError = runtime.BrokenResourceError
    ClosedResourceError = runtime.ClosedResourceError

    def Lock(self) -> Any:
        return runtime.Lock()

    def Event(self) -> Any:
        return runtime.Event()

    def Semaphore(self, value: int, max_value: int | None = None) -> Any:
        return runtime.Semaphore(value, max_value)

    def Condition(self, lock: Any = None) -> Any:
        return runtime.Condition(lock)

    def channel(self, capacity: float) -> tuple[Any, Any]:
        return runtime.channel(capacity)

    async def settle(self) -> None:
        # When this task runs and the run queue is empty, every other task
        # is parked: those woken in the meantime sit in the queue behind it.
        runner = context.runner()
        for _ in range(10_000):
            await runtime.yield_now()
            if not runner.run_queue:
                return
        raise AssertionError("settle(): tasks kept running for 10,000 rounds")

    async def recv(self, rx: Any) -> Any:
        return await rx.recv()

    def try_recv(self, rx: Any) -> Any:
        return rx.try_recv()

    def try_send(self, tx: Any, value: Any) -> None:
        tx.try_send(value)

    def try_acquire(self, lock: Any) -> None:
        lock.try_acquire()


class SyncTrio(TrioFramework, SyncFramework):
    WouldBlock = trio.WouldBlock
    EndOfChannel = trio.EndOfChannel
    BrokenResourceError = trio.BrokenResourceError
    ClosedResourceError = trio.ClosedResourceError

    def Lock(self) -> Any:
        return trio.Lock()

    def Event(self) -> Any:
        return trio.Event()

    def Semaphore(self, value: int, max_value: int | None = None) -> Any:
        return trio.Semaphore(value, max_value=max_value)

    def Condition(self, lock: Any = None) -> Any:
        return trio.Condition(lock)

    def channel(self, capacity: float) -> tuple[Any, Any]:
        return trio.open_memory_channel(capacity)  # type: ignore[no-any-return]

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    async def recv(self, rx: Any) -> Any:
        return await rx.receive()

    def try_recv(self, rx: Any) -> Any:
        return rx.receive_nowait()

    def try_send(self, tx: Any, value: Any) -> None:
        tx.send_nowait(value)

    def try_acquire(self, lock: Any) -> None:
        lock.acquire_nowait()


#: Parametrize over both: ``def test_x(fw: SyncFramework)`` with the `fw` fixture.
SYNC_FRAMEWORKS = [
    pytest.param(SyncRuntime, id="runtime"),
    pytest.param(SyncTrio, id="trio", marks=needs_trio),
]


def error_name(exc: BaseException) -> str:
    """A framework-neutral name for an error a scenario records."""
    return type(exc).__name__
