"""A failed task group leaves no reference cycle holding its errors."""

from __future__ import annotations

import gc
import weakref

import runtime


def test_a_group_kept_after_it_raised_keeps_no_error_or_task_alive() -> None:
    # anyio's TestRefcycles: the group's error list, its host task and the
    # run loop's own frame in each traceback held the errors in cycles.
    class Failure(Exception):
        pass

    async def main() -> bool:
        inner = runtime.TaskGroup()  # kept, as anyio's test keeps it

        async def child() -> None:
            async with inner:
                raise Failure

        gc.disable()  # only plain reference counting may free the error
        try:
            try:
                async with runtime.TaskGroup() as outer:
                    outer.spawn(child())
            except BaseExceptionGroup as group:
                ref = weakref.ref(group.exceptions[0].exceptions[0])
            return ref() is None
        finally:
            gc.enable()

    assert runtime.run(main())
