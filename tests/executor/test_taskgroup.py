"""Task groups, side by side with trio's nurseries (strict exception groups).

Each scenario runs under trio and under `runtime` and must produce the trace
written out in the test: which children are cancelled, which ``finally``
blocks run, and exactly what escapes the group (``ExceptionGroup[...]``
members in order, or nothing). trio runs each batch of ready tasks in a
random order, so scenarios never let two tasks that become ready together
both write to the trace; where two children fail in the same batch, the
group's members are compared sorted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.trio_compat import FLAVORS, Flavor, describe, noting, run_noting

pytestmark = pytest.mark.parametrize("fl", FLAVORS)


def sorted_members(exc: BaseException) -> str:
    assert isinstance(exc, BaseExceptionGroup), describe(exc)
    return f"{type(exc).__name__}{sorted(describe(e) for e in exc.exceptions)}"


# -- failures ----------------------------------------------------------------------


def test_two_children_fail_and_the_group_raises_both(fl: Flavor) -> None:
    trace: list[str] = []

    async def fail(exc: Exception) -> None:
        raise exc

    async def main() -> None:
        try:
            async with fl.open_group() as group:
                group.spawn(fail, ValueError("a"))
                group.spawn(fail, KeyError("b"))
                with noting(trace, "body"):
                    await fl.sleep_forever()
        except BaseExceptionGroup as exc:
            trace.append(f"group raised {sorted_members(exc)}")
        trace.append(f"group caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "body: Cancelled",
        "group raised ExceptionGroup['KeyError', 'ValueError']",
        "group caught=True",
        "run: None",
    ]


def test_the_group_keeps_the_order_in_which_children_failed(fl: Flavor) -> None:
    # The second failure happens while handling the cancellation the first caused.
    trace: list[str] = []

    async def fails_first() -> None:
        await fl.sleep(0.01)
        trace.append("first fails")
        raise ValueError("first")

    async def fails_when_cancelled() -> None:
        try:
            await fl.sleep_forever()
        except fl.Cancelled:
            trace.append("second cancelled, fails")
            raise KeyError("second") from None

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(fails_when_cancelled)
            group.spawn(fails_first)

    run_noting(fl, main, trace)
    assert trace == [
        "first fails",
        "second cancelled, fails",
        "run raised ExceptionGroup[ValueError, KeyError]",
    ]


def test_the_body_fails_and_the_children_are_cancelled(fl: Flavor) -> None:
    trace: list[str] = []

    async def child() -> None:
        with noting(trace, "child"):
            await fl.sleep_forever()

    async def main() -> None:
        with noting(trace, "group"):
            async with fl.open_group() as group:
                group.spawn(child)
                await fl.sleep(0.01)
                raise ValueError("body")

    run_noting(fl, main, trace)
    assert trace == [
        "child: Cancelled",
        "group: ExceptionGroup[ValueError]",
        "run raised ExceptionGroup[ValueError]",
    ]


def test_a_child_fails_after_the_body_has_finished(fl: Flavor) -> None:
    trace: list[str] = []

    async def late_failure() -> None:
        await fl.sleep(0.02)
        raise ValueError("late")

    async def sibling() -> None:
        with noting(trace, "sibling"):
            await fl.sleep_forever()

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(late_failure)
            group.spawn(sibling)
            trace.append("body done")

    run_noting(fl, main, trace)
    assert trace == [
        "body done",
        "sibling: Cancelled",
        "run raised ExceptionGroup[ValueError]",
    ]


def test_a_shielded_body_finishes_before_the_group_raises(fl: Flavor) -> None:
    trace: list[str] = []

    async def fail() -> None:
        raise ValueError("child")

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(fail)
            with fl.cancel_scope(shield=True):
                await fl.sleep(0.02)
                trace.append("shielded body finished its sleep")
            with noting(trace, "body after the shield"):
                await fl.checkpoint()

    run_noting(fl, main, trace)
    assert trace == [
        "shielded body finished its sleep",
        "body after the shield: Cancelled",
        "run raised ExceptionGroup[ValueError]",
    ]


def test_nested_groups_nest_their_exception_groups(fl: Flavor) -> None:
    trace: list[str] = []

    async def fail() -> None:
        await fl.sleep(0.01)
        raise ValueError("deep")

    async def outer_sibling() -> None:
        with noting(trace, "outer sibling"):
            await fl.sleep_forever()

    async def main() -> None:
        async with fl.open_group() as outer:
            outer.spawn(outer_sibling)
            with noting(trace, "inner group"):
                async with fl.open_group() as inner:
                    inner.spawn(fail)

    run_noting(fl, main, trace)
    assert trace == [
        "inner group: ExceptionGroup[ValueError]",
        "outer sibling: Cancelled",
        "run raised ExceptionGroup[ExceptionGroup[ValueError]]",
    ]


def test_a_failing_child_does_not_disturb_an_enclosing_scope(fl: Flavor) -> None:
    trace: list[str] = []

    async def fail() -> None:
        raise ValueError("child")

    async def main() -> None:
        with fl.cancel_scope() as outer:
            try:
                async with fl.open_group() as group:
                    group.spawn(fail)
            except ExceptionGroup as exc:
                trace.append(f"caught {describe(exc)}")
            await fl.checkpoint()
            trace.append("outer scope still usable")
        trace.append(f"outer called={outer.cancel_called}")

    run_noting(fl, main, trace)
    assert trace == [
        "caught ExceptionGroup[ValueError]",
        "outer scope still usable",
        "outer called=False",
        "run: None",
    ]


# -- Cancelled stays inside the group that caught it ------------------------------------


def test_cancelling_the_group_scope_ends_the_group_quietly(fl: Flavor) -> None:
    trace: list[str] = []

    async def child(name: str) -> None:
        try:
            await fl.sleep_forever()
        finally:
            trace.append(f"{name} finally")

    async def main() -> str:
        async with fl.open_group() as group:
            group.spawn(child, "a")
            await fl.sleep(0.01)
            group.spawn(child, "b")
            await fl.sleep(0.01)
            group.cancel_scope.cancel()
            with noting(trace, "body"):
                await fl.checkpoint()
        trace.append(f"group caught={group.cancel_scope.cancelled_caught}")
        return "no exception left the group"

    run_noting(fl, main, trace)
    # The children (woken by the cancel) and the body (at its checkpoint) are
    # ready in the same batch: any order.
    assert sorted(trace[:3]) == ["a finally", "b finally", "body: Cancelled"]
    assert trace[3:] == [
        "group caught=True",
        "run: no exception left the group",
    ]


def test_a_child_cancelling_its_group_ends_it_quietly(fl: Flavor) -> None:
    trace: list[str] = []

    async def stopper(group: Any) -> None:
        await fl.sleep(0.01)
        trace.append("stopper cancels the group")
        group.cancel_scope.cancel()
        await fl.checkpoint()
        trace.append("not reached: the stopper is inside the group too")

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(stopper, group)
            with noting(trace, "body"):
                await fl.sleep_forever()
        trace.append(f"group caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "stopper cancels the group",
        "body: Cancelled",
        "group caught=True",
        "run: None",
    ]


def test_a_group_inside_a_cancelled_scope_passes_cancelled_on(fl: Flavor) -> None:
    # The cancellation is the outer scope's, so the group must not swallow it,
    # and the outer scope must catch it. What travels between the two differs:
    # trio (strict) wraps every Cancelled in a BaseExceptionGroup; runtime's
    # TaskGroup re-raises a lone Cancelled bare when that is all it holds (as
    # asyncio.TaskGroup does with CancelledError), so ``except Cancelled``
    # around a group works. Either way nothing leaks past the outer scope.
    trace: list[str] = []

    async def child() -> None:
        with noting(trace, "child"):
            await fl.sleep_forever()

    async def main() -> None:
        with fl.cancel_scope() as outer:
            with noting(trace, "group"):
                async with fl.open_group() as group:
                    group.spawn(child)
                    await fl.sleep(0.01)
                    outer.cancel()
                    with noting(trace, "body"):
                        await fl.sleep_forever()
            trace.append("not reached")
        trace.append(f"group caught={group.cancel_scope.cancelled_caught} "
                     f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    between = {
        "trio": "group: BaseExceptionGroup[Cancelled, Cancelled]",
        "runtime": "group: Cancelled",
    }[fl.name]
    assert sorted(trace[:2]) == ["body: Cancelled", "child: Cancelled"]  # same batch
    assert trace[2:] == [between, "group caught=False outer caught=True", "run: None"]


def test_a_failure_inside_a_cancelled_scope_still_escapes(fl: Flavor) -> None:
    # The outer scope catches only the Cancelled part; the child's error goes on.
    trace: list[str] = []

    async def fails_when_cancelled() -> None:
        try:
            await fl.sleep_forever()
        except fl.Cancelled:
            raise ValueError("cleanup failed") from None

    async def main() -> None:
        with fl.cancel_scope() as outer:
            async with fl.open_group() as group:
                group.spawn(fails_when_cancelled)
                await fl.sleep(0.01)
                outer.cancel()
        trace.append("not reached")

    run_noting(fl, main, trace)
    assert trace == ["run raised ExceptionGroup[ValueError]"]


# -- spawning ------------------------------------------------------------------------


def test_spawning_into_a_closed_group_is_a_runtime_error(fl: Flavor) -> None:
    trace: list[str] = []

    async def child() -> None:
        trace.append("never runs")

    async def main() -> None:
        async with fl.open_group() as group:
            pass
        with noting(trace, "spawn after close"):
            group.spawn(child)

    run_noting(fl, main, trace)
    assert trace == ["spawn after close: RuntimeError", "run raised RuntimeError"]


def test_starting_into_a_closed_group_is_a_runtime_error(fl: Flavor) -> None:
    trace: list[str] = []

    async def child(task_status: Any) -> None:
        trace.append("never runs")

    async def main() -> None:
        async with fl.open_group() as group:
            pass
        with noting(trace, "start after close"):
            await group.start(child)

    run_noting(fl, main, trace)
    assert trace == ["start after close: RuntimeError", "run raised RuntimeError"]


def test_children_may_spawn_siblings_while_the_group_waits(fl: Flavor) -> None:
    trace: list[str] = []

    async def late(group: Any) -> None:
        await fl.sleep(0.02)
        trace.append("late child ran")

    async def spawner(group: Any) -> None:
        await fl.sleep(0.01)
        group.spawn(late, group)
        trace.append("spawned a sibling")

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(spawner, group)
            trace.append("body done")
        trace.append("group done")

    run_noting(fl, main, trace)
    assert trace == ["body done", "spawned a sibling", "late child ran", "group done", "run: None"]


def test_a_child_spawned_into_a_cancelled_group_runs_to_its_first_checkpoint(
        fl: Flavor) -> None:
    trace: list[str] = []

    async def child() -> None:
        trace.append("child started")
        with noting(trace, "child's first checkpoint"):
            await fl.checkpoint()

    async def main() -> None:
        async with fl.open_group() as group:
            group.cancel_scope.cancel()
            group.spawn(child)
        trace.append(f"group caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "child started",
        "child's first checkpoint: Cancelled",
        "group caught=True",
        "run: None",
    ]


# -- groups under deadlines ------------------------------------------------------------


def test_move_on_after_around_a_group_cancels_every_child(fl: Flavor) -> None:
    trace: list[str] = []

    async def child(name: str, delay: float) -> None:
        await fl.sleep(delay)
        with noting(trace, f"{name}"):
            await fl.sleep_forever()

    async def main() -> None:
        with fl.move_on_after(0.05) as scope:
            async with fl.open_group() as group:
                group.spawn(child, "a", 0)
                group.spawn(child, "b", 0.01)
                await fl.sleep(0.02)
                trace.append("body waits in __aexit__")
        trace.append(f"moved on: caught={scope.cancelled_caught} "
                     f"group caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace[0] == "body waits in __aexit__"
    assert sorted(trace[1:3]) == ["a: Cancelled", "b: Cancelled"]  # the same batch
    assert trace[3:] == ["moved on: caught=True group caught=False", "run: None"]


def test_fail_after_around_a_group_whose_child_fails_in_cleanup(fl: Flavor) -> None:
    # The deadline's Cancelled is caught, but the child's error is not a
    # timeout: it escapes, and no TimeoutError is raised.
    trace: list[str] = []

    async def fails_when_cancelled() -> None:
        try:
            await fl.sleep_forever()
        except fl.Cancelled:
            raise ValueError("cleanup failed") from None

    async def main() -> None:
        with fl.fail_after(0.02):
            async with fl.open_group() as group:
                group.spawn(fails_when_cancelled)

    run_noting(fl, main, trace)
    assert trace == ["run raised ExceptionGroup[ValueError]"]


class Fatal(BaseException):
    """A BaseException that is not Cancelled: it must not be mistaken for one."""


def test_a_child_raising_a_base_exception_gives_a_base_exception_group(fl: Flavor) -> None:
    trace: list[str] = []

    async def fatal() -> None:
        await fl.sleep(0.01)
        raise Fatal()

    async def sibling() -> None:
        with noting(trace, "sibling"):
            await fl.sleep_forever()

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(sibling)
            group.spawn(fatal)

    run_noting(fl, main, trace)
    assert trace == ["sibling: Cancelled", "run raised BaseExceptionGroup[Fatal]"]


def test_calling_started_twice_is_a_runtime_error(fl: Flavor) -> None:
    trace: list[str] = []

    async def service(task_status: Any) -> None:
        task_status.started("first")
        try:
            task_status.started("second")
        except RuntimeError:
            trace.append("second started(): RuntimeError")

    async def main() -> None:
        async with fl.open_group() as group:
            trace.append(await group.start(service))

    run_noting(fl, main, trace)
    # started() does not suspend the child: it runs on before start() returns.
    assert trace == ["second started(): RuntimeError", "first", "run: None"]


def test_leaving_a_group_is_a_schedule_point(fl: Flavor) -> None:
    # Even with no child to wait for (trio: a cancel-shielded checkpoint), so
    # a loop of short-lived groups cannot starve the other tasks.
    trace: list[str] = []
    other_ran = False

    async def other() -> None:
        nonlocal other_ran
        await fl.checkpoint()
        other_ran = True

    async def looper() -> None:
        for attempt in range(1, 1001):
            async with fl.open_group():
                pass
            if other_ran:
                trace.append(f"other ran while groups opened and closed: {attempt < 10}")
                return
        trace.append("other was starved by 1000 empty groups")

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(other)
            group.spawn(looper)

    run_noting(fl, main, trace)
    assert trace == ["other ran while groups opened and closed: True", "run: None"]


def test_leaving_a_group_in_a_cancelled_scope_is_not_a_cancel_point(fl: Flavor) -> None:
    async def main() -> tuple[bool, bool]:
        with fl.cancel_scope() as scope:
            scope.cancel()
            async with fl.open_group():
                pass
            left_quietly = True
        return left_quietly, scope.cancelled_caught

    assert fl.run(main) == (True, False)


def test_when_the_group_and_an_outer_scope_are_both_cancelled_the_outer_catches(
        fl: Flavor) -> None:
    trace: list[str] = []

    async def child() -> None:
        with noting(trace, "child"):
            await fl.sleep_forever()

    async def main() -> None:
        with fl.cancel_scope() as outer:
            async with fl.open_group() as group:
                group.spawn(child)
                await fl.sleep(0.01)
                group.cancel_scope.cancel()
                outer.cancel()
            trace.append("not reached: the outer cancellation must end this block")
        trace.append(f"group caught={group.cancel_scope.cancelled_caught} "
                     f"outer caught={outer.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == ["child: Cancelled", "group caught=False outer caught=True", "run: None"]


def test_a_nested_group_whose_child_turns_cancellation_into_an_error_keeps_only_the_error(
        fl: Flavor) -> None:
    # The inner group's children are cancelled because a sibling of the inner
    # group failed: one ends with Cancelled, one turns it into ValueError.
    # The Cancelled belongs to the outer group's scope and stops there; the
    # ValueError is what is left to report, wherever it is nested.
    trace: list[str] = []

    async def fail() -> None:
        await fl.sleep(0.01)
        raise KeyError("first")

    async def plain() -> None:
        await fl.sleep_forever()

    async def converts() -> None:
        try:
            await fl.sleep_forever()
        finally:
            raise ValueError("raised while being cancelled")

    async def inner_group() -> None:
        async with fl.open_group() as inner:
            inner.spawn(plain)
            inner.spawn(converts)

    async def main() -> None:
        async with fl.open_group() as outer:
            outer.spawn(fail)
            outer.spawn(inner_group)

    run_noting(fl, main, trace)
    assert trace == ["run raised ExceptionGroup[KeyError, ExceptionGroup[ValueError]]"]
