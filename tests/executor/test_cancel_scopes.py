"""Cancel scopes, side by side with trio: each scenario runs under both.

Every test is one scenario written against `tests.executor.trio_compat.Flavor`
and run under trio and under `runtime`; the expected trace is written out in
the test, so a divergence shows which framework moved. What is compared:
which checkpoint raises, which scope catches, the ``cancel_called`` /
``cancelled_caught`` flags, and the exception (if any) that escapes.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests.executor.trio_compat import FLAVORS, Flavor, describe, noting, run_noting

pytestmark = pytest.mark.parametrize("fl", FLAVORS)


# -- nesting -------------------------------------------------------------------------


def test_inner_cancel_is_caught_by_the_inner_scope(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> str:
        with fl.cancel_scope() as outer:
            with fl.cancel_scope() as inner:
                inner.cancel()
                trace.append("inner cancelled, no checkpoint yet")
                await fl.checkpoint()
                trace.append("not reached")
            trace.append(f"after inner: caught={inner.cancelled_caught}")
            await fl.checkpoint()  # the outer scope is not cancelled: passes
            trace.append("outer checkpoint passed")
        trace.append(f"outer: called={outer.cancel_called} caught={outer.cancelled_caught}")
        return "done"

    run_noting(fl, main, trace)
    assert trace == [
        "inner cancelled, no checkpoint yet",
        "after inner: caught=True",
        "outer checkpoint passed",
        "outer: called=False caught=False",
        "run: done",
    ]


def test_outer_cancel_passes_through_the_inner_scope(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope() as outer:
            with noting(trace, "inner block"), fl.cancel_scope() as inner:
                outer.cancel()
                await fl.sleep(10)
            trace.append("not reached: the inner scope must not swallow it")
        trace.append(f"inner caught={inner.cancelled_caught} called={inner.cancel_called}")
        trace.append(f"outer caught={outer.cancelled_caught} called={outer.cancel_called}")

    run_noting(fl, main, trace)
    assert trace == [
        "inner block: Cancelled",
        "inner caught=False called=False",
        "outer caught=True called=True",
        "run: None",
    ]


def test_when_both_are_cancelled_the_outermost_catches(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope() as outer:
            with noting(trace, "inner block"), fl.cancel_scope() as inner:
                inner.cancel()
                outer.cancel()
                await fl.checkpoint()
            trace.append("not reached")
        trace.append(f"inner caught={inner.cancelled_caught} called={inner.cancel_called}")
        trace.append(f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "inner block: Cancelled",
        "inner caught=False called=True",
        "outer caught=True",
        "run: None",
    ]


def test_cancelling_from_another_task_wakes_a_sleeper(fl: Flavor) -> None:
    trace: list[str] = []

    async def canceller(scope: object) -> None:
        await fl.sleep(0.02)
        trace.append("cancelling")
        scope.cancel()  # type: ignore[attr-defined]

    async def main() -> None:
        async with fl.open_group() as group:
            with fl.cancel_scope() as scope:
                group.spawn(canceller, scope)
                start = fl.current_time()
                await fl.sleep(10)
            elapsed = fl.current_time() - start
            trace.append(f"woke by cancel: caught={scope.cancelled_caught} "
                         f"prompt={elapsed < 1}")

    run_noting(fl, main, trace)
    assert trace == ["cancelling", "woke by cancel: caught=True prompt=True", "run: None"]


# -- flags -------------------------------------------------------------------------


def test_flags_of_a_scope_never_cancelled(fl: Flavor) -> None:
    async def main() -> tuple[bool, bool]:
        with fl.cancel_scope() as scope:
            await fl.checkpoint()
        return scope.cancel_called, scope.cancelled_caught

    assert fl.run(main) == (False, False)


def test_flags_of_a_scope_cancelled_without_a_checkpoint(fl: Flavor) -> None:
    # cancel() alone raises nothing: only a checkpoint inside the block does.
    async def main() -> tuple[bool, bool]:
        with fl.cancel_scope() as scope:
            scope.cancel()
        return scope.cancel_called, scope.cancelled_caught

    assert fl.run(main) == (True, False)


def test_flags_of_a_scope_cancelled_after_it_was_left(fl: Flavor) -> None:
    async def main() -> tuple[bool, bool]:
        with fl.cancel_scope() as scope:
            await fl.checkpoint()
        scope.cancel()  # too late to matter, but recorded
        await fl.checkpoint()
        return scope.cancel_called, scope.cancelled_caught

    assert fl.run(main) == (True, False)


def test_cancel_before_entering_takes_effect_inside(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        scope = fl.cancel_scope()
        scope.cancel()
        trace.append(f"before enter: called={scope.cancel_called}")
        with scope:
            trace.append("entered")
            await fl.checkpoint()
            trace.append("not reached")
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == ["before enter: called=True", "entered", "caught=True", "run: None"]


def test_a_scope_can_be_entered_only_once(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        scope = fl.cancel_scope()
        with scope:
            pass
        with noting(trace, "second enter"), scope:
            pass

    run_noting(fl, main, trace)
    assert trace == ["second enter: RuntimeError", "run raised RuntimeError"]


# -- level-triggered re-delivery -----------------------------------------------------


def test_catching_cancelled_does_not_clear_it(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope() as scope:
            scope.cancel()
            for attempt in (1, 2, 3):
                try:
                    await fl.checkpoint()
                    trace.append(f"checkpoint {attempt} passed")
                except fl.Cancelled:
                    trace.append(f"checkpoint {attempt}: Cancelled, swallowed")
            trace.append("leaving the scope without a checkpoint")
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    # The scope never saw Cancelled reach its exit, so it caught nothing.
    assert trace == [
        "checkpoint 1: Cancelled, swallowed",
        "checkpoint 2: Cancelled, swallowed",
        "checkpoint 3: Cancelled, swallowed",
        "leaving the scope without a checkpoint",
        "caught=False",
        "run: None",
    ]


def test_sleep_after_a_swallowed_cancel_raises_again(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.move_on_after(0.01) as scope:
            try:
                await fl.sleep(10)
            except fl.Cancelled:
                trace.append("first sleep cancelled")
            start = fl.current_time()
            with noting(trace, "second sleep"):
                await fl.sleep(10)
        trace.append(f"second raised at once: {fl.current_time() - start < 1}")
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "first sleep cancelled",
        "second sleep: Cancelled",
        "second raised at once: True",
        "caught=True",
        "run: None",
    ]


# -- shields -------------------------------------------------------------------------


def test_shield_keeps_out_an_outer_cancel_until_lifted(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope() as outer:
            outer.cancel()
            with fl.cancel_scope(shield=True) as shielded:
                await fl.checkpoint()
                await fl.sleep(0.01)
                trace.append("slept inside the shield")
                shielded.shield = False
                trace.append("shield lifted")
                with noting(trace, "checkpoint after lifting"):
                    await fl.checkpoint()
            trace.append("not reached")
        trace.append(f"shielded caught={shielded.cancelled_caught} "
                     f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "slept inside the shield",
        "shield lifted",
        "checkpoint after lifting: Cancelled",
        "shielded caught=False outer caught=True",
        "run: None",
    ]


def test_lifting_a_shield_from_another_task_wakes_the_sleeper(fl: Flavor) -> None:
    trace: list[str] = []

    async def lifter(outer: object, shielded: object) -> None:
        await fl.sleep(0.01)
        outer.cancel()  # type: ignore[attr-defined]
        trace.append("outer cancelled")
        await fl.sleep(0.03)
        trace.append("lifting the shield")
        shielded.shield = False  # type: ignore[attr-defined]

    async def main() -> None:
        shielded = fl.cancel_scope(shield=True)
        async with fl.open_group() as group:
            with fl.cancel_scope() as outer:
                group.spawn(lifter, outer, shielded)
                with shielded, noting(trace, "sleep inside the shield"):
                    await fl.sleep(10)
            trace.append(f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "outer cancelled",
        "lifting the shield",
        "sleep inside the shield: Cancelled",
        "outer caught=True",
        "run: None",
    ]


def test_shield_does_not_block_its_own_cancel(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope(shield=True) as scope:
            scope.cancel()
            with noting(trace, "block"):
                await fl.checkpoint()
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == ["block: Cancelled", "caught=True", "run: None"]


def test_cancel_inside_shield_reaches_a_nested_scope(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.cancel_scope() as outer:
            outer.cancel()
            with fl.cancel_scope(shield=True) as shielded:
                with fl.cancel_scope() as inner:
                    await fl.checkpoint()
                    trace.append("inner checkpoint passed: outer is shielded off")
                    shielded.cancel()
                    with noting(trace, "inner block"):
                        await fl.checkpoint()
                trace.append("not reached: the inner scope was not cancelled")
            trace.append(f"inner caught={inner.cancelled_caught} "
                         f"shielded caught={shielded.cancelled_caught}")
            await fl.checkpoint()
        trace.append(f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "inner checkpoint passed: outer is shielded off",
        "inner block: Cancelled",
        "inner caught=False shielded caught=True",
        "outer caught=True",
        "run: None",
    ]


# -- cancellation during cleanup -----------------------------------------------------


def test_a_checkpoint_in_finally_of_a_cancelled_task_raises_again(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.move_on_after(0.01) as scope:
            try:
                await fl.sleep(10)
            finally:
                trace.append("finally runs")
                try:
                    await fl.checkpoint()
                    trace.append("not reached")
                except fl.Cancelled:
                    trace.append("checkpoint in finally: Cancelled again")
                with noting(trace, "sleep in finally"):
                    await fl.sleep(0.01)
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "finally runs",
        "checkpoint in finally: Cancelled again",
        "sleep in finally: Cancelled",
        "caught=True",
        "run: None",
    ]


def test_a_shield_lets_cleanup_in_finally_wait(fl: Flavor) -> None:
    trace: list[str] = []

    async def main() -> None:
        with fl.move_on_after(0.01) as scope:
            try:
                await fl.sleep(10)
            finally:
                with fl.cancel_scope(shield=True):
                    await fl.sleep(0.02)
                    trace.append("shielded cleanup finished")
        trace.append(f"caught={scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == ["shielded cleanup finished", "caught=True", "run: None"]


def test_a_cancelled_group_child_gets_cancelled_again_in_finally(fl: Flavor) -> None:
    trace: list[str] = []

    async def child() -> None:
        try:
            await fl.sleep_forever()
        finally:
            trace.append("child finally")
            with noting(trace, "child checkpoint in finally"):
                await fl.checkpoint()

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(child)
            await fl.sleep(0.01)
            group.cancel_scope.cancel()
        trace.append(f"group caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "child finally",
        "child checkpoint in finally: Cancelled",
        "group caught=True",
        "run: None",
    ]


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


# -- a checkpoint that raises is still a schedule point ------------------------------


@pytest.mark.parametrize("wait", ["checkpoint", "sleep"])
def test_a_task_swallowing_cancelled_still_lets_others_run(fl: Flavor, wait: str) -> None:
    # Level-triggered re-delivery means every checkpoint in a cancelled scope
    # raises. If raising skipped the trip through the scheduler, a task that
    # catches Cancelled and tries again would never let anyone else run.
    trace: list[str] = []
    other_ran = False

    async def other() -> None:
        nonlocal other_ran
        await fl.checkpoint()
        other_ran = True

    async def swallower() -> None:
        with fl.cancel_scope() as scope:
            scope.cancel()
            for attempt in range(1, 1001):
                try:
                    if wait == "checkpoint":
                        await fl.checkpoint()
                    else:
                        await fl.sleep(1)
                except fl.Cancelled:
                    pass
                if other_ran:
                    trace.append(f"other ran while the swallower looped: {attempt < 10}")
                    return
            trace.append("other was starved for 1000 cancelled checkpoints")

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(other)
            group.spawn(swallower)

    run_noting(fl, main, trace)
    assert trace == ["other ran while the swallower looped: True", "run: None"]


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
