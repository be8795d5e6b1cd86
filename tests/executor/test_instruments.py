"""Instruments (`runtime.lowlevel.add_instrument`): the run loop's hooks, as trio's."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
import trio

import runtime
import runtime.lowlevel
from runtime.executor.instruments import HOOKS
from tests.helpers.platform_gaps import needs_trio

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """Records every hook as (hook, task name or timeout)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _task(self, hook: str, task: Any) -> None:
        self.calls.append((hook, task.name))

    def before_run(self) -> None:
        self.calls.append(("before_run", None))

    def after_run(self) -> None:
        self.calls.append(("after_run", None))

    def task_spawned(self, task: Any) -> None:
        self._task("task_spawned", task)

    def task_scheduled(self, task: Any) -> None:
        self._task("task_scheduled", task)

    def before_task_step(self, task: Any) -> None:
        self._task("before_task_step", task)

    def after_task_step(self, task: Any) -> None:
        self._task("after_task_step", task)

    def task_exited(self, task: Any) -> None:
        self._task("task_exited", task)

    def before_io_wait(self, timeout: Any) -> None:
        self.calls.append(("before_io_wait", timeout))

    def after_io_wait(self, timeout: Any) -> None:
        self.calls.append(("after_io_wait", timeout))


def task_story(calls: list[tuple[str, Any]], name: str) -> list[str]:
    """What happened to the task called ``name``, hook by hook."""
    return [hook for hook, who in calls if who == name]


async def child() -> None:
    await runtime.sleep(0.01)


def test_every_hook_fires_in_the_order_a_task_lives_it() -> None:
    recorder = Recorder()

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            tg.spawn(child(), name="child")

    runtime.run(main(), instruments=[recorder])
    calls = recorder.calls
    assert calls[0] == ("before_run", None) and calls[-1] == ("after_run", None)
    assert task_story(calls, "child") == [
        "task_spawned", "task_scheduled",
        "before_task_step", "after_task_step",  # runs to the sleep and parks
        "task_scheduled",  # the timer wakes it
        "before_task_step", "task_exited", "after_task_step",
    ]
    waits = [(hook, timeout) for hook, timeout in calls if hook.endswith("io_wait")]
    assert waits and waits[0][0] == "before_io_wait" and waits[1][0] == "after_io_wait"
    assert 0 < waits[0][1] <= 0.01  # it slept in the reactor until the timer


def test_a_task_woken_by_io_is_reported_scheduled_and_one_without_instruments_runs_too() -> None:
    # The IO driver queues the tasks an event wakes itself while no instrument
    # listens, and through wake_here (which tells instruments) while one does.
    async def reader(sock: socket.socket) -> bytes:
        return await runtime.lowlevel.socket_source(sock).recv(10)

    async def main() -> bytes:
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            async with runtime.TaskGroup() as tg:
                handle = tg.spawn(reader(a), name="reader")
                await runtime.sleep(0.01)  # it parks on the empty socket
                b.send(b"ping")
                return await handle

    recorder = Recorder()
    assert runtime.run(main(), instruments=[recorder]) == b"ping"
    assert task_story(recorder.calls, "reader") == [
        "task_spawned", "task_scheduled",
        "before_task_step", "after_task_step",  # parks on the socket
        "task_scheduled",  # the epoll event wakes it
        "before_task_step", "task_exited", "after_task_step",
    ]
    assert runtime.run(main()) == b"ping"


@needs_trio
def test_a_task_s_life_reads_the_same_as_under_trio() -> None:
    # The same program under both; trio's instrument sees the same hooks in the
    # same order for the child task (names differ: trio names tasks by function).
    class TrioRecorder(Recorder, trio.abc.Instrument):  # type: ignore[misc]
        def __init__(self) -> None:
            Recorder.__init__(self)

        def _task(self, hook: str, task: Any) -> None:
            self.calls.append((hook, task.name.rsplit(".", 1)[-1]))

    async def trio_main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio_child)

    async def trio_child() -> None:
        await trio.sleep(0)  # a checkpoint: re-queued at once
        await trio.sleep(0.01)

    theirs = TrioRecorder()
    trio.run(trio_main, instruments=[theirs])
    ours = Recorder()

    async def checkpointing_child() -> None:
        await runtime.sleep(0)
        await runtime.sleep(0.01)

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            tg.spawn(checkpointing_child(), name="trio_child")

    runtime.run(main(), instruments=[ours])
    story = task_story(ours.calls, "trio_child")
    assert story == task_story(theirs.calls, "trio_child")
    assert story.count("task_scheduled") == 3  # spawned, the checkpoint, the timer


def test_added_and_removed_while_running() -> None:
    recorder = Recorder()

    async def main() -> None:
        runtime.lowlevel.add_instrument(recorder)
        runtime.lowlevel.add_instrument(recorder)  # again: nothing changes
        await runtime.spawn(child(), name="seen")
        runtime.lowlevel.remove_instrument(recorder)
        await runtime.spawn(child(), name="unseen")
        with pytest.raises(KeyError, match="is not installed"):
            runtime.lowlevel.remove_instrument(recorder)

    runtime.run(main())
    assert task_story(recorder.calls, "seen").count("task_spawned") == 1
    assert task_story(recorder.calls, "unseen") == []


def test_an_instrument_that_raises_is_removed_with_a_warning_and_the_run_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        steps = 0

        def before_task_step(self, task: Any) -> None:
            self.steps += 1
            raise RuntimeError("instrument bug")

    broken = Broken()
    recorder = Recorder()

    async def main() -> str:
        await runtime.sleep(0)
        await runtime.spawn(child(), name="after")
        return "done"

    with caplog.at_level(logging.WARNING, logger="runtime"):
        assert runtime.run(main(), instruments=[broken, recorder]) == "done"
    assert broken.steps == 1
    assert "instrument" in caplog.text and "before_task_step" in caplog.text
    assert "instrument bug" in caplog.text and "removed" in caplog.text
    assert "task_exited" in task_story(recorder.calls, "after")  # the others go on


def test_an_object_with_no_hook_is_refused_naming_the_hooks() -> None:
    async def main() -> None:
        runtime.lowlevel.add_instrument(object())

    with pytest.raises(TypeError, match="has none of the instrument hooks before_run"):
        runtime.run(main())


@needs_trio
def test_the_hook_names_are_trio_s() -> None:
    trio_hooks = {name for name in vars(trio.abc.Instrument) if not name.startswith("_")}
    assert set(HOOKS) == trio_hooks


def blocking_sleep() -> None:
    import time

    time.sleep(0.15)  # the bug slow_step is for: a blocking call in async code


def test_a_slow_step_is_logged_naming_the_task_and_its_lines(
        caplog: pytest.LogCaptureFixture) -> None:
    async def offender() -> None:
        await runtime.sleep(0)
        blocking_sleep()
        await runtime.sleep(0)

    async def main() -> None:
        await runtime.spawn(offender(), name="offender")

    with caplog.at_level(logging.WARNING, logger="runtime"):
        runtime.run(main(), slow_step=0.1)
    [record] = [r for r in caplog.records if "held the loop" in r.getMessage()]
    message = record.getMessage()
    assert "'offender'" in message
    # From the await before the blocking call to the one after it, in this file.
    lines = [int(part.rsplit(":", 1)[1].split()[0]) for part in message.split(__file__)[1:]]
    assert len(lines) == 2 and lines[1] - lines[0] == 2, message


def test_quick_steps_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        for _ in range(100):
            await runtime.sleep(0)

    with caplog.at_level(logging.WARNING, logger="runtime"):
        runtime.run(main(), slow_step=0.1)
    assert "held the loop" not in caplog.text


def test_a_slow_step_threshold_must_be_positive() -> None:
    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(ValueError, match="slow_step must be a number of seconds > 0, got 0"):
        runtime.run(coro, slow_step=0)
