"""The same scenario under trio and under `runtime`: the traces must match.

Each scenario is written once against `tests.helpers.sidebyside.Framework` and its
expected trace is written out in the test, so a divergence shows which
framework moved, not just that they differ.

trio shuffles each batch of runnable tasks (it reverses the batch at random
to shake out order dependence), so two tasks woken in the *same* batch can run
in either order. The ordering scenario spaces its deadlines 20 ms apart so
each wake is its own batch; if the machine stalls for longer than that, two
timers expire together, and for trio only the scenario is re-run (up to three
times). `runtime` fires timers in deadline order and runs its queue FIFO, so
it is held to the trace on every run.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.sidebyside import CANCELLED, FRAMEWORKS, Framework


@pytest.fixture(params=FRAMEWORKS)
def fw(request: pytest.FixtureRequest) -> Framework:
    return request.param()  # type: ignore[no-any-return]


def run_scenario(fw: Framework, scenario: Callable[[Framework, list[Any]], Any],
                 expected: list[Any]) -> None:
    attempts = 3 if fw.name == "trio" else 1
    for _ in range(attempts):
        trace: list[Any] = []
        scenario(fw, trace)
        if trace == expected:
            return
    assert trace == expected


# -- sleep ordering ----------------------------------------------------------------


def sleepers_wake_in_deadline_order(fw: Framework, trace: list[Any]) -> None:
    async def sleeper(name: str, seconds: float) -> None:
        await fw.sleep(seconds)
        trace.append(name)

    async def main() -> str:
        handles = [fw.spawn(sleeper, name, delay)
                   for name, delay in [("c", 0.06), ("a", 0.02), ("d", 0.08), ("b", 0.04)]]
        trace.append("spawned")
        for h in handles:
            await h.join()
        trace.append("joined")
        return "ok"

    trace.append(fw.run(main))


def test_sleepers_wake_in_deadline_order(fw: Framework) -> None:
    run_scenario(fw, sleepers_wake_in_deadline_order,
                 ["spawned", "a", "b", "c", "d", "joined", "ok"])


def zero_sleep_lets_a_spawned_task_run(fw: Framework, trace: list[Any]) -> None:
    async def child() -> None:
        trace.append("child ran")

    async def main() -> None:
        fw.spawn(child)
        trace.append("spawned")
        await fw.sleep(0)
        await fw.sleep(0)
        trace.append("main after sleep(0)")

    fw.run(main)


def test_zero_sleep_lets_a_spawned_task_run(fw: Framework) -> None:
    run_scenario(fw, zero_sleep_lets_a_spawned_task_run,
                 ["spawned", "child ran", "main after sleep(0)"])


# -- cancelling a sleeping task ----------------------------------------------------


def cancel_a_sleeping_task(fw: Framework, trace: list[Any]) -> None:
    async def child() -> str:
        trace.append("child sleeping")
        try:
            await fw.sleep(10)
        except fw.Cancelled as exc:
            trace.append(("child got", type(exc).__name__))
            raise
        finally:
            trace.append("child finally")
        trace.append("child woke (wrong)")
        return "child value"

    async def main() -> str:
        handle = fw.spawn(child)
        await fw.sleep(0.01)
        trace.append(("finished before cancel", handle.is_finished()))
        handle.cancel()
        trace.append(("finished right after cancel", handle.is_finished()))
        trace.append(("join", await handle.join()))
        trace.append(("finished after join", handle.is_finished()))
        return "main value"

    trace.append(("run returned", fw.run(main)))


def test_cancel_a_sleeping_task(fw: Framework) -> None:
    run_scenario(fw, cancel_a_sleeping_task, [
        "child sleeping",
        ("finished before cancel", False),
        ("finished right after cancel", False),
        ("child got", "Cancelled"),
        "child finally",
        ("join", CANCELLED),
        ("finished after join", True),
        ("run returned", "main value"),
    ])


def cancel_before_the_task_first_runs(fw: Framework, trace: list[Any]) -> None:
    # Both: the child's body runs up to its first checkpoint, which raises.
    async def child() -> None:
        trace.append("child started")
        try:
            await fw.sleep(10)
        except fw.Cancelled:
            trace.append("child cancelled at its first checkpoint")
            raise

    async def main() -> None:
        handle = fw.spawn(child)
        handle.cancel()
        trace.append(("join", await handle.join()))

    fw.run(main)


def test_cancel_before_the_task_first_runs(fw: Framework) -> None:
    run_scenario(fw, cancel_before_the_task_first_runs, [
        "child started", "child cancelled at its first checkpoint", ("join", CANCELLED)])


def cancel_a_finished_task(fw: Framework, trace: list[Any]) -> None:
    async def child() -> int:
        return 7

    async def main() -> None:
        handle = fw.spawn(child)
        await fw.sleep(0.01)
        trace.append(("finished", handle.is_finished()))
        handle.cancel()
        trace.append(("join", await handle.join()))

    fw.run(main)


def test_cancel_a_finished_task_keeps_its_result(fw: Framework) -> None:
    run_scenario(fw, cancel_a_finished_task, [("finished", True), ("join", 7)])


def leftover_tasks_are_cancelled_when_main_returns(fw: Framework, trace: list[Any]) -> None:
    async def forever(name: str) -> None:
        try:
            await fw.sleep(10)
        except fw.Cancelled:
            trace.append((name, "cancelled"))
            raise
        finally:
            trace.append((name, "finally"))

    async def main() -> str:
        fw.spawn(forever, "x")
        await fw.sleep(0.01)
        trace.append("main returns")
        return "done"

    trace.append(fw.run(main))


def test_leftover_tasks_are_cancelled_when_main_returns(fw: Framework) -> None:
    run_scenario(fw, leftover_tasks_are_cancelled_when_main_returns, [
        "main returns", ("x", "cancelled"), ("x", "finally"), "done"])


# -- exception propagation ---------------------------------------------------------


def raise_boom() -> None:
    raise ValueError("boom")


def frames(exc: BaseException) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


def child_exception_reaches_the_joiner(fw: Framework, trace: list[Any]) -> None:
    async def failing_child() -> None:
        await fw.sleep(0.001)
        raise_boom()

    async def main() -> None:
        handle = fw.spawn(failing_child)
        try:
            await handle.join()
        except ValueError as exc:
            tb = frames(exc)
            trace.append((type(exc).__name__, str(exc)))
            trace.append(("raising frame in traceback", "raise_boom" in tb))
            trace.append(("child frame in traceback", "failing_child" in tb))

    fw.run(main)


def test_child_exception_reaches_the_joiner(fw: Framework) -> None:
    run_scenario(fw, child_exception_reaches_the_joiner, [
        ("ValueError", "boom"),
        ("raising frame in traceback", True),
        ("child frame in traceback", True),
    ])


def main_exception_leaves_run(fw: Framework, trace: list[Any]) -> None:
    async def helper() -> None:
        await fw.sleep(0.001)
        raise_boom()

    async def main() -> None:
        trace.append("main")
        await helper()

    try:
        fw.run(main)
    except ValueError as exc:
        tb = frames(exc)
        trace.append(("run raised", str(exc)))
        trace.append(("frames in order", [n for n in tb if n in ("main", "helper", "raise_boom")]))


def test_main_exception_leaves_run(fw: Framework) -> None:
    run_scenario(fw, main_exception_leaves_run, [
        "main",
        ("run raised", "boom"),
        ("frames in order", ["main", "helper", "raise_boom"]),
    ])


def exception_in_awaited_coroutine_is_catchable(fw: Framework, trace: list[Any]) -> None:
    async def inner() -> None:
        await fw.sleep(0)
        raise KeyError("k")

    async def main() -> str:
        try:
            await inner()
        except KeyError as exc:
            trace.append(("caught", repr(exc)))
        await fw.sleep(0)
        trace.append("main goes on")
        return "r"

    trace.append(fw.run(main))


def test_exception_in_awaited_coroutine_is_catchable(fw: Framework) -> None:
    run_scenario(fw, exception_in_awaited_coroutine_is_catchable,
                 [("caught", "KeyError('k')"), "main goes on", "r"])
