"""Introspection: current_task, running_tasks, current_effective_deadline, check_cancelled."""

from __future__ import annotations

import math
from typing import Any

import pytest

import runtime
from tests.helpers.trio_compat import FLAVORS, Flavor


def test_current_task_has_a_name_an_id_and_the_task_that_spawned_it() -> None:
    async def child() -> tuple[str, int | None, str | None]:
        me = runtime.current_task()
        parent = me.parent
        return me.name, me.parent_id, None if parent is None else parent.name

    async def main() -> list[Any]:
        me = runtime.current_task()
        seen = [me.name, me.parent]
        seen.append(await runtime.spawn(child(), name="kid"))
        async with runtime.TaskGroup() as tg:
            handle = tg.spawn(child())
        seen.append(await handle)
        seen.append(me.id)
        return seen

    name, parent, (kid, kid_parent_id, kid_parent), (_, _, grouped_parent), main_id = (
        runtime.run(main()))
    assert (name, parent) == ("main", None)
    assert (kid, kid_parent_id, kid_parent) == ("kid", main_id, "main")
    assert grouped_parent == "main"


def test_task_ids_are_unique_and_a_finished_parent_is_not_kept_alive() -> None:
    async def grandchild() -> Any:
        return runtime.current_task()

    async def child() -> runtime.JoinHandle[Any]:
        return runtime.spawn(grandchild())

    async def main() -> tuple[Any, Any]:
        handle = await runtime.spawn(child())
        task = await handle
        import gc

        gc.collect()
        return task.parent_id, task.parent

    parent_id, parent = runtime.run(main())
    assert isinstance(parent_id, int)
    assert parent is None  # the child finished and nothing held it


def test_current_task_outside_a_task_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="no runtime is running"):
        runtime.current_task()


def test_running_tasks_lists_every_unfinished_task_in_spawn_order() -> None:
    async def sleeper() -> None:
        await runtime.sleep(math.inf)

    async def main() -> list[str]:
        names = []
        async with runtime.TaskGroup() as tg:
            tg.spawn(sleeper(), name="a")
            runtime.spawn(sleeper(), name="b")
            await runtime.sleep(0)
            with runtime.CancelScope():
                names = [task.name for task in runtime.running_tasks()]
            tg.cancel_scope.cancel()
        return names

    assert runtime.run(main()) == ["main", "a", "b"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_current_effective_deadline_is_the_earliest_up_to_a_shield(flavor: Flavor) -> None:
    async def main() -> list[str]:
        trace = [f"none: {flavor.current_effective_deadline()}"]
        now = flavor.current_time()
        with flavor.move_on_at(now + 100):
            with flavor.move_on_at(now + 50):
                deadline = flavor.current_effective_deadline()
                trace.append(f"nested: {round(deadline - now)}")
                with flavor.cancel_scope(shield=True):
                    trace.append(f"shielded: {flavor.current_effective_deadline()}")
            with flavor.cancel_scope() as scope:
                scope.cancel()
                trace.append(f"cancelled: {flavor.current_effective_deadline()}")
                with flavor.cancel_scope(shield=True, deadline=now + 7):
                    deadline = flavor.current_effective_deadline()
                    trace.append(f"shield with deadline: {round(deadline - now)}")
        return trace

    assert flavor.run(main) == [
        "none: inf", "nested: 50", "shielded: inf", "cancelled: -inf",
        "shield with deadline: 7",
    ]


def test_check_cancelled_raises_in_a_cancelled_scope_without_yielding() -> None:
    async def other(trace: list[str]) -> None:
        trace.append("other ran")

    async def main() -> list[str]:
        trace: list[str] = []
        runtime.check_cancelled()  # not cancelled: nothing happens
        with runtime.CancelScope() as scope:
            runtime.spawn(other(trace))
            scope.cancel()
            try:
                runtime.check_cancelled()
            except runtime.Cancelled:
                trace.append("cancelled")
                raise
        trace.append(f"caught: {scope.cancelled_caught}")
        await runtime.sleep(0)
        return trace

    # "other ran" comes last: check_cancelled gave it no turn.
    assert runtime.run(main()) == ["cancelled", "caught: True", "other ran"]


def test_check_cancelled_respects_a_shield() -> None:
    async def main() -> str:
        with runtime.CancelScope() as outer:
            outer.cancel()
            with runtime.CancelScope(shield=True):
                runtime.check_cancelled()
                return "shielded"
        return "unreachable"

    assert runtime.run(main()) == "shielded"
