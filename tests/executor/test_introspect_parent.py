"""A task group's child is its owner's child, whoever spawned it (trio's rule)."""

from __future__ import annotations

from typing import Any

import trio

import runtime
from tests.helpers.platform_gaps import needs_trio


@needs_trio
def test_the_parent_of_a_group_child_is_the_groups_owner_as_in_trio() -> None:
    async def under_runtime() -> list[str]:
        seen: list[str] = []

        async def subtask() -> None:
            seen.append(f"subtask's parent {runtime.current_task().parent_id == root}")

        async def started(*, task_status: Any) -> None:
            first = runtime.current_task().parent_id
            seen.append(f"before started: parent is starter {first == starter[0]}")
            task_status.started()
            seen.append(f"after started: parent is root {runtime.current_task().parent_id == root}")

        async def starter_task() -> None:
            starter.append(runtime.current_task().id)
            tg.spawn(subtask())
            await tg.start(started)

        root = runtime.current_task().id
        starter: list[int] = []
        async with runtime.TaskGroup() as tg:
            tg.spawn(starter_task())
        return sorted(seen)

    async def under_trio() -> list[str]:
        seen: list[str] = []

        def parent_id() -> int | None:
            nursery = trio.lowlevel.current_task().parent_nursery
            return None if nursery is None else id(nursery.parent_task)

        async def subtask() -> None:
            seen.append(f"subtask's parent {parent_id() == root}")

        async def started(*, task_status: Any) -> None:
            seen.append(f"before started: parent is starter {parent_id() == starter[0]}")
            task_status.started()
            seen.append(f"after started: parent is root {parent_id() == root}")

        async def starter_task() -> None:
            starter.append(id(trio.lowlevel.current_task()))
            nursery.start_soon(subtask)
            await nursery.start(started)

        root = id(trio.lowlevel.current_task())
        starter: list[int] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(starter_task)
        return sorted(seen)

    assert runtime.run(under_runtime()) == trio.run(under_trio) == [
        "after started: parent is root True", "before started: parent is starter True",
        "subtask's parent True"]
