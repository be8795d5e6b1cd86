"""Deadlines, fail_after/fail_at and relative deadlines, side by side with trio."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.helpers.trio_compat import FLAVORS, Flavor, describe, noting, run_noting

pytestmark = pytest.mark.parametrize("fl", FLAVORS)


# -- deadlines -----------------------------------------------------------------------


def test_deadline_in_the_past_cancels_at_the_first_checkpoint(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope(deadline=fl.current_time() - 1) as scope:
            trace.append("code before the first checkpoint runs")
            with noting(trace, "first checkpoint"):
                await fl.checkpoint()
        trace.append(f"called={scope.cancel_called} caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "code before the first checkpoint runs",
        "first checkpoint: Cancelled",
        "called=True caught=True",
        "run: None",
    ]


def test_move_on_after_zero_cancels_at_the_first_checkpoint(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.move_on_after(0) as scope, noting(trace, "sleep(0)"):
            await fl.sleep(0)
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == ["sleep(0): Cancelled", "caught=True", "run: None"]


def test_setting_a_past_deadline_on_an_entered_scope(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope() as scope:
            await fl.checkpoint()
            trace.append("first checkpoint passed")
            scope.deadline = fl.current_time() - 1
            with noting(trace, "next checkpoint"):
                await fl.checkpoint()
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "first checkpoint passed",
        "next checkpoint: Cancelled",
        "caught=True",
        "run: None",
    ]


def test_pushing_a_deadline_back_before_it_fires(fl: Flavor) -> None:
    async def main() -> tuple[bool, bool]:
        with fl.move_on_after(0.02) as scope:
            scope.deadline = fl.current_time() + 10
            await fl.sleep(0.05)
        return scope.cancel_called, scope.cancelled_caught

    assert fl.run(main) == (False, False)


def test_move_on_after_around_a_sleep(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        start = fl.current_time()
        with fl.move_on_after(0.05) as scope:
            await fl.sleep(10)
            trace.append("not reached")
        elapsed = fl.current_time() - start
        trace.append(f"caught={scope.cancelled_caught} on time={0.05 <= elapsed < 1}")
        with fl.move_on_after(1) as roomy:
            await fl.sleep(0.01)
            trace.append("short sleep finished in time")
        trace.append(f"roomy: called={roomy.cancel_called} caught={roomy.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "caught=True on time=True",
        "short sleep finished in time",
        "roomy: called=False caught=False",
        "run: None",
    ]


def test_move_on_at_an_absolute_deadline(fl: Flavor) -> None:
    async def main() -> tuple[bool, bool]:
        deadline = fl.current_time() + 0.03
        with fl.move_on_at(deadline) as scope:
            await fl.sleep(10)
        return scope.cancelled_caught, fl.current_time() >= deadline

    assert fl.run(main) == (True, True)


def test_move_on_after_around_a_socket_read(fl: Flavor) -> None:
    trace: list[str] = []
    a, b = socket.socketpair()

    async def main() -> None:
        with fl.move_on_after(0.05) as scope:
            await fl.wait_readable(a)
            trace.append("not reached: nothing was sent")
        trace.append(f"caught={scope.cancelled_caught}")
        # The cancelled wait left no registration behind: the fd can be waited on again.
        b.send(b"ping")
        with fl.move_on_after(5) as again:
            await fl.wait_readable(a)
            trace.append(f"readable again: {a.recv(16)!r}")
        trace.append(f"second wait caught={again.cancelled_caught}")

    with a, b:
        a.setblocking(False)
        run_noting(fl, main, trace)
    assert trace == [
        "caught=True",
        "readable again: b'ping'",
        "second wait caught=False",
        "run: None",
    ]


def test_move_on_after_around_a_thread_call(fl: Flavor) -> None:
    trace: list[str] = []
    release = threading.Event()
    finished = threading.Event()

    def blocking() -> str:
        release.wait(10)
        finished.set()
        return "dropped"

    async def main() -> None:
        with fl.move_on_after(0.05) as scope:
            await fl.to_thread(blocking)
            trace.append("not reached")
        # The call was abandoned, not interrupted: the thread is still blocked.
        running = not finished.is_set()
        trace.append(f"caught={scope.cancelled_caught} thread still running={running}")
        release.set()
        await fl.to_thread(finished.wait, 10)
        trace.append("abandoned thread finished")
        trace.append(f"a later call works: {await fl.to_thread(lambda: 6 * 7)}")

    try:
        run_noting(fl, main, trace)
    finally:
        release.set()
    assert trace == [
        "caught=True thread still running=True",
        "abandoned thread finished",
        "a later call works: 42",
        "run: None",
    ]


# -- fail_after / fail_at ------------------------------------------------------------


def test_fail_after_raises_timeout_error(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        try:
            with fl.fail_after(0.02), noting(trace, "inside fail_after"):
                await fl.sleep(10)
        except TimeoutError as exc:
            trace.append(f"caught {describe(exc)}")

    run_noting(fl, main, trace)
    assert trace == ["inside fail_after: Cancelled", "caught TimeoutError", "run: None"]


def test_fail_after_that_finishes_in_time_raises_nothing(fl: Flavor) -> None:
    async def main() -> tuple[bool, bool]:
        with fl.fail_after(1) as scope:
            await fl.sleep(0.01)
        return scope.cancel_called, scope.cancelled_caught

    assert fl.run(main) == (False, False)


def test_fail_at_in_the_past_raises_at_the_first_checkpoint(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.fail_at(fl.current_time() - 1):
            trace.append("entered")
            await fl.checkpoint()

    run_noting(fl, main, trace)
    assert trace == ["entered", "run raised TimeoutError"]


def test_fail_after_inside_a_cancelled_scope_lets_the_outer_catch(fl: Flavor) -> None:
    # The outer scope is cancelled too: Cancelled belongs to it, not to
    # fail_after, so no TimeoutError (trio: the outermost cancelled scope catches).
    trace: list[str] = []

    async def main() -> None:
        with (fl.cancel_scope() as outer, fl.fail_at(fl.current_time() - 1),
              noting(trace, "inside fail_at")):
            outer.cancel()
            await fl.checkpoint()
        trace.append(f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == ["inside fail_at: Cancelled", "outer caught=True", "run: None"]


# -- relative deadlines ------------------------------------------------------------------


def test_move_on_after_counts_from_entering_not_creating(fl: Flavor) -> None:
    # trio (since 0.27): move_on_after/fail_after start the clock at ``with``.
    async def main() -> tuple[bool, bool]:
        early = fl.move_on_after(0.05)
        failing = fl.fail_after(0.05)
        await fl.sleep(0.1)  # longer than either timeout, before entering
        with early:
            await fl.sleep(0.01)
        with failing:
            await fl.sleep(0.01)
        return early.cancel_called, early.cancelled_caught

    assert fl.run(main) == (False, False)


def test_an_unentered_move_on_after_has_no_absolute_deadline(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        scope = fl.move_on_after(1)
        with noting(trace, "deadline before entering"):
            _ = scope.deadline

    run_noting(fl, main, trace)
    assert trace == ["deadline before entering: RuntimeError", "run raised RuntimeError"]


def test_an_entered_move_on_after_has_its_deadline(fl: Flavor) -> None:
    async def main() -> bool:
        with fl.move_on_after(10) as scope:
            entered = fl.current_time()
            return entered + 9 < scope.deadline <= fl.current_time() + 10

    assert fl.run(main) is True


def test_a_scope_can_be_cancelled_outside_a_run(fl: Flavor) -> None:
    # Cancelling is only marking: it needs no running runtime (trio allows it),
    # before the scope is entered or after the run that used it has ended.
    early = fl.cancel_scope()
    early.cancel()
    trace: list[str] = []

    async def main() -> object:
        with early, noting(trace, "checkpoint in the early-cancelled scope"):
            await fl.checkpoint()
        with fl.cancel_scope() as used:
            await fl.checkpoint()
        return used

    late = fl.run(main)
    late.cancel()  # after run() returned
    assert trace == ["checkpoint in the early-cancelled scope: Cancelled"]
    assert (early.cancelled_caught, late.cancel_called, late.cancelled_caught) == (
        True, True, False)


def test_a_thread_call_in_a_cancelled_scope_never_runs(fl: Flavor) -> None:
    # Even a call that would return at once: cancelled means not run.
    ran: list[str] = []

    async def main() -> tuple[bool, list[str]]:
        with fl.move_on_after(0) as scope:
            await fl.to_thread(ran.append, "ran")
        return scope.cancelled_caught, ran

    assert fl.run(main) == (True, [])
