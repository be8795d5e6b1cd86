"""Lock, Semaphore, Event, Condition: the same scenario under trio and runtime.

Each scenario is written once against `tests.helpers.sidebyside_sync.SyncFramework`;
the test writes out the trace it expects, and both frameworks must produce
it: fairness order of waiters, hand-over on release, what a cancelled waiter
leaves behind, and the errors for misuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.sidebyside_sync import CANCELLED, SYNC_FRAMEWORKS, SyncFramework, error_name


@pytest.fixture(params=SYNC_FRAMEWORKS)
def fw(request: pytest.FixtureRequest) -> SyncFramework:
    return request.param()  # type: ignore[no-any-return]


def run(fw: SyncFramework, scenario: Callable[[SyncFramework, list[Any]], Any]) -> list[Any]:
    trace: list[Any] = []
    fw.run(lambda: scenario(fw, trace))
    return trace


# -- Lock --------------------------------------------------------------------------


async def lock_waiters_acquire_in_arrival_order(fw: SyncFramework, trace: list[Any]) -> None:
    lock = fw.Lock()

    async def worker(name: str) -> None:
        async with lock:
            trace.append(name)

    await lock.acquire()
    handles = []
    for name in ["a", "b", "c", "d"]:
        handles.append(fw.spawn(worker, name))
        await fw.settle()  # queued in this order
    trace.append("release")
    lock.release()
    for h in handles:
        await h.join()


def test_lock_waiters_acquire_in_arrival_order(fw: SyncFramework) -> None:
    assert run(fw, lock_waiters_acquire_in_arrival_order) == ["release", "a", "b", "c", "d"]


async def lock_release_hands_over_past_a_barging_acquirer(fw: SyncFramework,
                                                          trace: list[Any]) -> None:
    lock = fw.Lock()

    async def waiter() -> None:
        async with lock:
            trace.append("waiter has it")
            await fw.settle()
        trace.append("waiter released")

    await lock.acquire()
    h = fw.spawn(waiter)
    await fw.settle()
    lock.release()
    # The waiter owns the lock now, although it has not run yet.
    trace.append(("locked", lock.locked()))
    try:
        fw.try_acquire(lock)
    except fw.WouldBlock:
        trace.append("barging try_acquire would block")
    await lock.acquire()
    trace.append("main has it")
    lock.release()
    await h.join()


def test_lock_release_hands_over_past_a_barging_acquirer(fw: SyncFramework) -> None:
    assert run(fw, lock_release_hands_over_past_a_barging_acquirer) == [
        ("locked", True), "barging try_acquire would block",
        "waiter has it", "waiter released", "main has it",
    ]


async def lock_cancelled_waiter_never_holds(fw: SyncFramework, trace: list[Any]) -> None:
    lock = fw.Lock()
    seen: dict[str, str] = {}  # both wake in one batch: trio runs it in random order

    async def worker(name: str) -> None:
        try:
            await lock.acquire()
        except fw.Cancelled:
            seen[name] = f"cancelled, locked={lock.locked()}"
            raise
        seen[name] = "acquired"
        await fw.settle()
        lock.release()

    await lock.acquire()
    first = fw.spawn(worker, "first")
    await fw.settle()
    second = fw.spawn(worker, "second")
    await fw.settle()
    first.cancel()
    lock.release()  # at once: the cancelled waiter must be passed over
    trace.append(("first", await first.join()))
    trace.append(("second", await second.join()))
    trace.append(seen)
    trace.append(("locked", lock.locked()))


def test_lock_cancelled_waiter_never_holds(fw: SyncFramework) -> None:
    assert run(fw, lock_cancelled_waiter_never_holds) == [
        ("first", CANCELLED), ("second", None),
        {"first": "cancelled, locked=True", "second": "acquired"}, ("locked", False),
    ]


async def lock_misuse_raises(fw: SyncFramework, trace: list[Any]) -> None:
    lock = fw.Lock()
    try:
        lock.release()
    except RuntimeError as exc:
        trace.append(("release unheld", error_name(exc)))
    await lock.acquire()

    async def other() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            trace.append(("release by non-owner", error_name(exc)))

    await fw.spawn(other).join()
    try:
        await lock.acquire()
    except RuntimeError as exc:
        trace.append(("re-acquire", error_name(exc)))
    lock.release()


def test_lock_misuse_raises(fw: SyncFramework) -> None:
    assert run(fw, lock_misuse_raises) == [
        ("release unheld", "RuntimeError"),
        ("release by non-owner", "RuntimeError"),
        ("re-acquire", "RuntimeError"),
    ]


# -- Semaphore ---------------------------------------------------------------------


async def semaphore_is_fifo_and_hands_permits_over(fw: SyncFramework, trace: list[Any]) -> None:
    sem = fw.Semaphore(2)
    names = ["a", "b", "c", "d", "e"]
    leave = {name: fw.Event() for name in names}

    async def worker(name: str) -> None:
        async with sem:
            trace.append(f"{name} in")
            await leave[name].wait()
        trace.append(f"{name} out")

    handles = []
    for name in names:
        handles.append(fw.spawn(worker, name))
        await fw.settle()
    trace.append(("value", sem.value))
    try:
        fw.try_acquire(sem)
    except fw.WouldBlock:
        trace.append("no permit")
    for name in names:  # one holder leaves per step; its permit goes to the next in line
        leave[name].set()
        await fw.settle()
    for h in handles:
        await h.join()
    trace.append(("value", sem.value))


def test_semaphore_is_fifo_and_hands_permits_over(fw: SyncFramework) -> None:
    assert run(fw, semaphore_is_fifo_and_hands_permits_over) == [
        "a in", "b in", ("value", 0), "no permit",
        "a out", "c in", "b out", "d in", "c out", "e in", "d out", "e out",
        ("value", 2),
    ]


async def semaphore_order_with_one_permit(fw: SyncFramework, trace: list[Any]) -> None:
    sem = fw.Semaphore(1)

    async def worker(name: str) -> None:
        await sem.acquire()
        trace.append(name)
        sem.release()

    await sem.acquire()
    handles = []
    for name in ["a", "b", "c"]:
        handles.append(fw.spawn(worker, name))
        await fw.settle()
    handles[1].cancel()
    sem.release()
    await fw.settle()
    trace.append([await h.join() for h in handles])
    trace.append(("value", sem.value))


def test_semaphore_cancelled_waiter_takes_no_permit(fw: SyncFramework) -> None:
    assert run(fw, semaphore_order_with_one_permit) == [
        "a", "c", [None, CANCELLED, None], ("value", 1)]


async def semaphore_over_release(fw: SyncFramework, trace: list[Any]) -> None:
    sem = fw.Semaphore(1, max_value=1)
    try:
        sem.release()
    except ValueError as exc:
        trace.append(error_name(exc))
    await sem.acquire()
    sem.release()
    trace.append(("value", sem.value, sem.max_value))


def test_semaphore_over_release_is_a_value_error(fw: SyncFramework) -> None:
    assert run(fw, semaphore_over_release) == ["ValueError", ("value", 1, 1)]


# -- Event -------------------------------------------------------------------------


async def event_wakes_every_waiter(fw: SyncFramework, trace: list[Any]) -> None:
    event = fw.Event()
    woken: list[str] = []

    async def waiter(name: str) -> None:
        await event.wait()
        woken.append(name)

    handles = [fw.spawn(waiter, name) for name in "abc"]
    await fw.settle()
    trace.append(("set", event.is_set()))
    handles[1].cancel()
    event.set()
    event.set()  # idempotent
    for h in handles:
        trace.append(await h.join())
    trace.append(sorted(woken))  # one batch: trio runs it in random order
    await event.wait()  # already set: returns at once
    trace.append(("set", event.is_set()))


def test_event_wakes_every_waiter_but_the_cancelled(fw: SyncFramework) -> None:
    assert run(fw, event_wakes_every_waiter) == [
        ("set", False), None, CANCELLED, None, ["a", "c"], ("set", True)]


# -- Condition ---------------------------------------------------------------------


async def condition_notify_order(fw: SyncFramework, trace: list[Any]) -> None:
    cond = fw.Condition(fw.Lock())

    async def waiter(name: str) -> None:
        async with cond:
            await cond.wait()
            trace.append(f"{name} woke holding={cond.locked()}")

    handles = []
    for name in ["a", "b", "c", "d"]:
        handles.append(fw.spawn(waiter, name))
        await fw.settle()
    async with cond:
        cond.notify()
        trace.append("notified 1")
    await fw.settle()
    async with cond:
        cond.notify(2)
        trace.append("notified 2")
        await fw.settle()  # they wait for the lock we hold
        trace.append("releasing")
    await fw.settle()
    async with cond:
        cond.notify_all()
    for h in handles:
        await h.join()


def test_condition_wakes_waiters_in_order_holding_the_lock(fw: SyncFramework) -> None:
    assert run(fw, condition_notify_order) == [
        "notified 1", "a woke holding=True",
        "notified 2", "releasing", "b woke holding=True", "c woke holding=True",
        "d woke holding=True",
    ]


async def condition_cancelled_wait_reacquires(fw: SyncFramework, trace: list[Any]) -> None:
    cond = fw.Condition(fw.Lock())

    async def waiter() -> None:
        async with cond:
            try:
                await cond.wait()
            except fw.Cancelled:
                trace.append(f"waiter cancelled holding={cond.locked()}")
                raise

    h = fw.spawn(waiter)
    await fw.settle()
    async with cond:
        h.cancel()
        await fw.settle()  # it cannot raise yet: it needs the lock back
        trace.append("main releasing")
    trace.append(await h.join())
    trace.append(("locked", cond.locked()))


def test_condition_cancelled_wait_reacquires_the_lock_first(fw: SyncFramework) -> None:
    assert run(fw, condition_cancelled_wait_reacquires) == [
        "main releasing", "waiter cancelled holding=True", CANCELLED, ("locked", False)]


async def condition_needs_the_lock(fw: SyncFramework, trace: list[Any]) -> None:
    cond = fw.Condition(fw.Lock())
    for what in ("notify", "notify_all"):
        try:
            getattr(cond, what)()
        except RuntimeError as exc:
            trace.append((what, error_name(exc)))
    try:
        await cond.wait()
    except RuntimeError as exc:
        trace.append(("wait", error_name(exc)))


def test_condition_without_the_lock_is_a_runtime_error(fw: SyncFramework) -> None:
    assert run(fw, condition_needs_the_lock) == [
        ("notify", "RuntimeError"), ("notify_all", "RuntimeError"), ("wait", "RuntimeError")]
