"""Cancel scopes, side by side with trio: each scenario runs under both.

Every test is one scenario written against `tests.helpers.trio_compat.Flavor`
and run under trio and under `runtime`; the expected trace is written out in
the test, so a divergence shows which framework moved. What is compared:
which checkpoint raises, which scope catches, the ``cancel_called`` /
``cancelled_caught`` flags, and the exception (if any) that escapes.
"""

from __future__ import annotations

import pytest

from tests.helpers.trio_compat import FLAVORS, Flavor, noting, run_noting

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
