"""Property test: random channel programs against a model, under runtime and trio.

A program is a list of operations on one channel: tasks that ``send`` or
``recv`` (and may block), ``try_send``/``try_recv`` from the main task,
``cancel`` of one of the newest spawned tasks (with *no* pause afterwards, so the cancelled
waiter is still queued when the next operation runs), and ``close`` of
either end. `Model` says what each operation must do, in a dozen lines per
rule; the same program runs under `runtime` and under trio (which keeps the
model honest), and every task's outcome and every ``try_*`` result must
match it: no message lost or duplicated, FIFO order, cancelled sends not
enqueued, cancelled receives losing nothing, close semantics.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.platform_gaps import needs_trio
from tests.helpers.sidebyside import CANCELLED
from tests.helpers.sidebyside_sync import SyncFramework, SyncRuntime, SyncTrio

Outcome = Any


class Model:
    """A bounded channel with one sender handle and one receiver handle."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.buffer: deque[int] = deque()
        self.senders: list[tuple[int, int]] = []  # parked (task, value), FIFO
        self.receivers: list[int] = []  # parked tasks, FIFO
        self.tx_closed = False
        self.rx_closed = False
        self.outcomes: dict[int, Outcome] = {}

    def send(self, value: int) -> Outcome | None:
        """What a send does now: an outcome, or None if it must wait."""
        if self.tx_closed:
            return ("err", "ClosedResourceError")
        if self.rx_closed:
            return ("err", "BrokenResourceError")
        if self.receivers:
            self.outcomes[self.receivers.pop(0)] = ("got", value)
            return ("sent",)
        if len(self.buffer) < self.capacity:
            self.buffer.append(value)
            return ("sent",)
        return None

    def recv(self) -> Outcome | None:
        if self.rx_closed:
            return ("err", "ClosedResourceError")
        if self.buffer:
            value = self.buffer.popleft()
            if self.senders:
                task, moved = self.senders.pop(0)
                self.buffer.append(moved)
                self.outcomes[task] = ("sent",)
            return ("got", value)
        if self.senders:
            task, value = self.senders.pop(0)
            self.outcomes[task] = ("sent",)
            return ("got", value)
        if self.tx_closed:
            return ("err", "EndOfChannel")
        return None

    def task_send(self, task: int, value: int) -> None:
        outcome = self.send(value)
        if outcome is None:
            self.senders.append((task, value))
        else:
            self.outcomes[task] = outcome

    def task_recv(self, task: int) -> None:
        outcome = self.recv()
        if outcome is None:
            self.receivers.append(task)
        else:
            self.outcomes[task] = outcome

    def cancel(self, task: int) -> None:
        for parked in self.senders:
            if parked[0] == task:
                self.senders.remove(parked)
                self.outcomes[task] = CANCELLED
        if task in self.receivers:
            self.receivers.remove(task)
            self.outcomes[task] = CANCELLED

    def close_tx(self) -> None:
        if self.tx_closed:
            return
        self.tx_closed = True
        for task, _ in self.senders:
            self.outcomes[task] = ("err", "ClosedResourceError")
        for task in self.receivers:
            self.outcomes[task] = ("err", "EndOfChannel")
        self.senders, self.receivers = [], []

    def close_rx(self) -> None:
        if self.rx_closed:
            return
        self.rx_closed = True
        for task in self.receivers:
            self.outcomes[task] = ("err", "ClosedResourceError")
        for task, _ in self.senders:
            self.outcomes[task] = ("err", "BrokenResourceError")
        self.senders, self.receivers = [], []
        self.buffer.clear()


def expected(capacity: float, program: list[tuple[str, int]]) -> tuple[list[Any], dict[int, Any]]:
    model = Model(capacity)
    log: list[Any] = []
    tasks = 0
    value = 0
    for op, arg in program:
        if op == "send":
            value += 1
            model.task_send(tasks, value)
            tasks += 1
        elif op == "recv":
            model.task_recv(tasks)
            tasks += 1
        elif op == "try_send":
            value += 1
            outcome = model.send(value)
            log.append(("try_send", ("err", "WouldBlock") if outcome is None else outcome))
        elif op == "try_recv":
            outcome = model.recv()
            log.append(("try_recv", ("err", "WouldBlock") if outcome is None else outcome))
        elif op == "cancel" and tasks:
            model.cancel(tasks - 1 - arg % tasks)
        elif op == "close_tx":
            model.close_tx()
        elif op == "close_rx":
            model.close_rx()
    for task in range(tasks):
        model.outcomes.setdefault(task, CANCELLED)  # still parked at the end
    return log, model.outcomes


def observed(fw: SyncFramework, capacity: float,
             program: list[tuple[str, int]]) -> tuple[list[Any], dict[int, Any]]:
    log: list[Any] = []
    outcomes: dict[int, Any] = {}

    async def main() -> None:
        tx, rx = fw.channel(capacity)
        handles: list[Any] = []
        value = 0

        async def task(i: int, op: str, value: int) -> None:
            try:
                if op == "send":
                    await tx.send(value)
                    outcomes[i] = ("sent",)
                else:
                    outcomes[i] = ("got", await fw.recv(rx))
            except Exception as exc:
                outcomes[i] = ("err", type(exc).__name__)

        def attempt(op: str, fn: Any) -> None:
            try:
                result = fn()
            except Exception as exc:
                log.append((op, ("err", type(exc).__name__)))
            else:
                log.append((op, ("sent",) if op == "try_send" else ("got", result)))

        for op, arg in program:
            if op in ("send", "recv"):
                value += op == "send"
                handles.append(fw.spawn(task, len(handles), op, value))
                await fw.settle()
            elif op == "try_send":
                value += 1
                attempt(op, lambda v=value: fw.try_send(tx, v))
            elif op == "try_recv":
                attempt(op, lambda: fw.try_recv(rx))
            elif op == "cancel" and handles:
                # counted back from the newest task, and no settle after it:
                # the cancelled waiter is still queued when the next op runs
                handles[-1 - arg % len(handles)].cancel()
            elif op == "close_tx":
                tx.close()
            elif op == "close_rx":
                rx.close()
        await fw.settle()
        for h in handles:
            h.cancel()
        for i, h in enumerate(handles):
            if await h.join() == CANCELLED:
                outcomes.setdefault(i, CANCELLED)

    fw.run(main)
    return log, outcomes


operations = st.lists(
    st.tuples(
        # weighted: a close ends most of what follows, so it is rare
        st.sampled_from(["send"] * 3 + ["recv"] * 3 + ["try_send"] * 2 + ["try_recv"] * 3
                        + ["cancel"] * 4 + ["close_tx", "close_rx"]),
        st.integers(0, 3),
    ),
    max_size=30,
)


@pytest.mark.parametrize("framework", [
    pytest.param(SyncRuntime, id="runtime"), pytest.param(SyncTrio, id="trio", marks=needs_trio)])
@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(capacity=st.sampled_from([0, 1, 2, math.inf]), program=operations)
def test_channel_behaves_like_the_model(framework: type[SyncFramework], capacity: float,
                                        program: list[tuple[str, int]]) -> None:
    assert observed(framework(), capacity, program) == expected(capacity, program)
