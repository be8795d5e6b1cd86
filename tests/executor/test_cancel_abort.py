"""`JoinHandle.abort` is a cancel scope around the whole task (runtime only).

trio has no abort; its nearest equivalent is cancelling a scope that encloses
everything the task runs. So that is what abort must behave like: shields
*inside* the task keep it out until lifted, it reaches the children of task
groups the task opened, and aborting one child of a group is that child's
business, not a failure that cancels its siblings.
"""

from __future__ import annotations

import runtime
from runtime.executor import context
from runtime.testing import MockClock


def test_abort_respects_a_shield_inside_the_task() -> None:
    trace: list[str] = []

    async def worker() -> None:
        try:
            await runtime.sleep(10)
        finally:
            with runtime.CancelScope(shield=True):
                await runtime.sleep(0.02)
                trace.append("shielded cleanup finished")
            try:
                await runtime.checkpoint()
            except runtime.Cancelled:
                trace.append("cancelled again once the shield ended")
                raise

    async def main() -> None:
        handle = runtime.spawn(worker())
        await runtime.sleep(0.01)
        handle.abort()
        try:
            await handle
        except runtime.Cancelled:
            trace.append("join: Cancelled")

    runtime.run(main())
    assert trace == [
        "shielded cleanup finished",
        "cancelled again once the shield ended",
        "join: Cancelled",
    ]


def test_abort_of_a_task_parked_inside_its_shield_waits_for_the_shield() -> None:
    trace: list[str] = []

    async def worker() -> None:
        with runtime.CancelScope(shield=True):
            await runtime.sleep(0.03)
            trace.append("shielded sleep finished")
        await runtime.sleep(10)

    async def main() -> None:
        handle = runtime.spawn(worker())
        await runtime.sleep(0.01)
        handle.abort()
        try:
            await handle
        except runtime.Cancelled:
            trace.append("join: Cancelled")

    runtime.run(main())
    assert trace == ["shielded sleep finished", "join: Cancelled"]


def test_abort_reaches_the_children_of_the_tasks_own_group() -> None:
    trace: list[str] = []

    async def grandchild() -> None:
        try:
            await runtime.sleep(1)
            trace.append("grandchild slept its full second")
        except runtime.Cancelled:
            trace.append("grandchild cancelled")
            raise

    async def worker() -> None:
        async with runtime.TaskGroup() as tg:
            tg.spawn(grandchild())

    async def main() -> None:
        handle = runtime.spawn(worker())
        await runtime.sleep(0.01)
        start = runtime.current_time()
        handle.abort()
        try:
            await handle
            trace.append("join returned: the abort was lost")
        except runtime.Cancelled:
            trace.append("join: Cancelled")
        trace.append(f"prompt: {runtime.current_time() - start < 0.5}")

    runtime.run(main())
    assert trace == ["grandchild cancelled", "join: Cancelled", "prompt: True"]


def test_aborting_one_child_leaves_its_siblings_alone() -> None:
    trace: list[str] = []

    async def victim() -> None:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            trace.append("victim cancelled")
            raise

    async def sibling() -> None:
        await runtime.sleep(0.03)
        trace.append("sibling finished undisturbed")

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            handle = tg.spawn(victim())
            tg.spawn(sibling())
            await runtime.sleep(0.01)
            handle.abort()
            await runtime.sleep(0.01)
            trace.append("body went on")
        trace.append(f"group ended quietly, caught={tg.cancel_scope.cancelled_caught}")

    # Virtual time: the order of the 20 ms and 30 ms wake-ups is the test's
    # point, and real time on a loaded machine swapped them now and then.
    runtime.run(main(), clock=MockClock(autojump_threshold=0))
    assert trace == [
        "victim cancelled",
        "body went on",
        "sibling finished undisturbed",
        "group ended quietly, caught=False",
    ]


def test_an_aborted_child_that_fails_in_cleanup_still_fails_the_group() -> None:
    trace: list[str] = []

    async def victim() -> None:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            raise ValueError("cleanup failed") from None

    async def sibling() -> None:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            trace.append("sibling cancelled by the failure")
            raise

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            handle = tg.spawn(victim())
            tg.spawn(sibling())
            await runtime.sleep(0.01)
            handle.abort()

    try:
        runtime.run(main())
    except ExceptionGroup as exc:
        trace.append(f"run raised {[type(e).__name__ for e in exc.exceptions]}")
    assert trace == ["sibling cancelled by the failure", "run raised ['ValueError']"]


def test_abort_before_the_first_step_cancels_at_the_first_checkpoint() -> None:
    trace: list[str] = []

    async def worker() -> None:
        trace.append("worker started")
        await runtime.checkpoint()
        trace.append("not reached")

    async def main() -> None:
        handle = runtime.spawn(worker())
        handle.abort()
        handle.abort()  # idempotent
        try:
            await handle
        except runtime.Cancelled:
            trace.append("join: Cancelled")

    runtime.run(main())
    assert trace == ["worker started", "join: Cancelled"]


def test_aborted_tasks_leave_nothing_in_the_scope_tree() -> None:
    async def worker() -> None:
        with runtime.CancelScope():
            await runtime.sleep(10)

    async def main() -> tuple[int, int]:
        root = context.runner().root_scope
        before = len(root._children)
        handles = [runtime.spawn(worker()) for _ in range(50)]
        await runtime.sleep(0.01)
        for handle in handles:
            handle.abort()
        for handle in handles:
            try:
                await handle
            except runtime.Cancelled:
                pass
        return before, len(root._children)

    before, after = runtime.run(main())
    assert after == before
