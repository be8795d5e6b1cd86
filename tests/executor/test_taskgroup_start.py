"""TaskGroup.start (trio's nursery.start), side by side with trio: each scenario runs under both."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.helpers.trio_compat import FLAVORS, Flavor, describe, noting, run_noting

pytestmark = pytest.mark.parametrize("fl", FLAVORS)


# -- start() ---------------------------------------------------------------------------


def test_start_returns_the_value_passed_to_started(fl: Flavor) -> None:
    # A server reports its bound port; the caller connects to it.
    trace: list[str] = []

    async def server(task_status: Any) -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            task_status.started(listener.getsockname()[1])
            await fl.wait_readable(listener)
            conn, _ = listener.accept()
            with conn:
                trace.append("server accepted")

    async def main() -> None:
        async with fl.open_group() as group:
            port = await group.start(server)
            trace.append(f"started, port is an int: {isinstance(port, int) and port > 0}")
            with socket.create_connection(("127.0.0.1", port)):
                trace.append("client connected")
                await fl.sleep(0.02)
        trace.append("group done")

    run_noting(fl, main, trace)
    assert trace == [
        "started, port is an int: True",
        "client connected",
        "server accepted",
        "group done",
        "run: None",
    ]


def test_start_fails_when_the_task_fails_before_started(fl: Flavor) -> None:
    # The error is start()'s, raised bare; the group and its other children
    # are not disturbed.
    trace: list[str] = []

    async def broken(task_status: Any) -> None:
        await fl.sleep(0.01)
        raise ValueError("could not bind")

    async def sibling() -> None:
        await fl.sleep(0.03)
        trace.append("sibling finished undisturbed")

    async def main() -> None:
        async with fl.open_group() as group:
            group.spawn(sibling)
            try:
                await group.start(broken)
            except ValueError as exc:
                trace.append(f"start raised {describe(exc)}: {exc}")
        trace.append(f"group done, caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "start raised ValueError: could not bind",
        "sibling finished undisturbed",
        "group done, caught=False",
        "run: None",
    ]


def test_start_fails_when_the_task_returns_without_started(fl: Flavor) -> None:
    async def lazy(task_status: Any) -> None:
        await fl.checkpoint()

    async def main() -> str:
        async with fl.open_group() as group:
            try:
                await group.start(lazy)
            except RuntimeError:
                return "RuntimeError"
        return "no error"

    assert fl.run(main) == "RuntimeError"


def test_a_started_task_belongs_to_the_group_not_the_caller(fl: Flavor) -> None:
    # Before started() the task runs under the caller's scopes; after, it is
    # the group's: cancelling the caller's scope no longer reaches it.
    trace: list[str] = []

    async def service(task_status: Any) -> None:
        task_status.started("ready")
        await fl.sleep(0.03)
        trace.append("service outlived the caller's cancelled scope")

    async def main() -> None:
        async with fl.open_group() as group:
            with fl.cancel_scope() as caller_scope:
                trace.append(await group.start(service))
                caller_scope.cancel()
                with noting(trace, "caller"):
                    await fl.checkpoint()
            trace.append(f"caller scope caught={caller_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "ready",
        "caller: Cancelled",
        "caller scope caught=True",
        "service outlived the caller's cancelled scope",
        "run: None",
    ]


def test_cancelling_the_caller_of_start_cancels_the_starting_task(fl: Flavor) -> None:
    trace: list[str] = []

    async def slow_to_start(task_status: Any) -> None:
        with noting(trace, "starting task"):
            await fl.sleep_forever()
        task_status.started()

    async def main() -> None:
        async with fl.open_group() as group:
            with fl.move_on_after(0.02) as scope:
                await group.start(slow_to_start)
                trace.append("not reached")
            trace.append(f"start moved on: caught={scope.cancelled_caught}")
        trace.append(f"group caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "starting task: Cancelled",
        "start moved on: caught=True",
        "group caught=False",
        "run: None",
    ]


def test_a_started_task_that_fails_later_fails_the_group(fl: Flavor) -> None:
    trace: list[str] = []

    async def service(task_status: Any) -> None:
        task_status.started()
        await fl.sleep(0.01)
        raise ValueError("service crashed")

    async def main() -> None:
        async with fl.open_group() as group:
            await group.start(service)
            trace.append("started")
            with noting(trace, "body"):
                await fl.sleep_forever()

    run_noting(fl, main, trace)
    assert trace == ["started", "body: Cancelled", "run raised ExceptionGroup[ValueError]"]


def test_a_task_started_into_a_cancelled_group_is_cancelled_after_started(
        fl: Flavor) -> None:
    trace: list[str] = []

    async def service(task_status: Any) -> None:
        await fl.checkpoint()
        trace.append("starting: the caller's scope is not cancelled")
        task_status.started()
        with noting(trace, "after started"):
            await fl.checkpoint()

    async def main() -> None:
        async with fl.open_group() as group:
            group.cancel_scope.cancel()
            with fl.cancel_scope(shield=True):
                await group.start(service)
            trace.append("start returned")

    run_noting(fl, main, trace)
    assert trace[0] == "starting: the caller's scope is not cancelled"
    # After started() the child (cancelled at its next checkpoint) and the
    # caller (returning from start) are ready in the same batch: any order.
    assert sorted(trace[1:3]) == ["after started: Cancelled", "start returned"]
    assert trace[3:] == ["run: None"]


def test_the_group_lists_failures_in_the_order_they_happened(fl: Flavor) -> None:
    # The body's exception takes its place in time like a child's: here the
    # child failed first and the body failed while being cancelled.
    trace: list[str] = []

    async def fails_first() -> None:
        await fl.sleep(0.01)
        raise KeyError("child")

    async def body_fails_second() -> None:
        async with fl.open_group() as group:
            group.spawn(fails_first)
            try:
                await fl.sleep_forever()
            except fl.Cancelled:
                raise ValueError("body") from None

    async def body_fails_first() -> None:
        async def fails_when_cancelled() -> None:
            try:
                await fl.sleep_forever()
            except fl.Cancelled:
                raise KeyError("child") from None

        async with fl.open_group() as group:
            group.spawn(fails_when_cancelled)
            await fl.sleep(0.01)
            raise ValueError("body")

    run_noting(fl, body_fails_second, trace)
    run_noting(fl, body_fails_first, trace)
    assert trace == [
        "run raised ExceptionGroup[KeyError, ValueError]",
        "run raised ExceptionGroup[ValueError, KeyError]",
    ]


def test_a_group_waits_for_a_start_in_progress_from_outside_its_body(fl: Flavor) -> None:
    # A task outside the group calls group.start(); the group's body ends
    # while the child has not called started() yet. The group must wait for
    # it (trio's nursery does), not close and make started() fail.
    trace: list[str] = []

    async def slow_start(task_status: Any) -> None:
        await fl.sleep(0.1)
        task_status.started("ready")
        await fl.sleep(0.05)
        trace.append("child finished")

    async def starter(group: Any) -> None:
        trace.append(f"start returned {await group.start(slow_start)}")

    async def main() -> None:
        async with fl.open_group() as outer:
            async with fl.open_group() as group:
                outer.spawn(starter, group)
                # Long enough for the starter to be inside start() (trio runs
                # ready tasks in random order), short of the child's started().
                await fl.sleep(0.01)
            trace.append("group done")

    run_noting(fl, main, trace)
    assert trace == ["start returned ready", "child finished", "group done", "run: None"]


# -- started() while the caller's scope is cancelled (trio's rule) ---------------------
# The child is not moved into the group: its Cancelled must be caught by the
# caller's cancelled scopes, not escape a group whose scope is not cancelled.
# start() waits for the child to end. (Found by a differential run against
# trio; issue 25.)


def test_started_under_a_cancelled_caller_leaves_start_waiting_until_the_child_ends(
        fl: Flavor) -> None:
    trace: list[str] = []

    async def child(task_status: Any) -> None:
        task_status.started("v")
        trace.append("child called started")
        with noting(trace, "child's sleep"):
            await fl.sleep(0.05)
        trace.append("child slept")

    async def main() -> None:
        async with fl.open_group() as group:
            group.cancel_scope.cancel()
            with noting(trace, "start"):
                value = await group.start(child)
            trace.append(f"line after start ran: {value}")
        trace.append(f"group done, caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "child called started",
        "child's sleep: Cancelled",
        "start: Cancelled",
        "group done, caught=True",
        "run: None",
    ]


def test_started_under_a_cancelled_caller_with_a_shielded_child_returns_late(
        fl: Flavor) -> None:
    trace: list[str] = []

    async def child(task_status: Any) -> None:
        task_status.started("v")
        trace.append("child called started")
        with fl.cancel_scope(shield=True):
            await fl.sleep(0.05)
        trace.append("child's shielded sleep ended")

    async def main() -> None:
        async with fl.open_group() as group:
            group.cancel_scope.cancel()
            value = await group.start(child)
            trace.append(f"start returned {value}")
            with noting(trace, "next checkpoint"):
                await fl.checkpoint()
        trace.append(f"group done, caught={group.cancel_scope.cancelled_caught}")

    run_noting(fl, main, trace)
    assert trace == [
        "child called started",
        "child's shielded sleep ended",
        "start returned v",
        "next checkpoint: Cancelled",
        "group done, caught=True",
        "run: None",
    ]


def test_started_under_a_cancelled_caller_whose_child_fails_raises_its_error(
        fl: Flavor) -> None:
    trace: list[str] = []

    async def child(task_status: Any) -> None:
        task_status.started("v")
        try:
            await fl.checkpoint()
        except fl.Cancelled:
            raise KeyError("while cancelled") from None

    async def main() -> None:
        async with fl.open_group() as group:
            with fl.cancel_scope() as outer:
                outer.cancel()
                with noting(trace, "start"):
                    await group.start(child)
                trace.append("line after start ran")

    run_noting(fl, main, trace)
    # The KeyError is start()'s (bare), and fails the group as the body's error.
    assert trace == ["start: KeyError", "run raised ExceptionGroup[KeyError]"]
