"""`runtime.channel` (``channels/mpsc.py``): details the side-by-side scenarios don't cover.

Handles as context managers, unbounded capacity, the ready path's budget,
and the race between a hand-off and a cancel: a waiter the cancel reaches
first leaves the queue (its abort callback) and the next one is served; a
waiter served first completes and is cancelled at its next checkpoint.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import runtime
from runtime import Cancelled, CancelScope, ClosedResourceError, EndOfChannel, WouldBlock
from runtime.testing import wait_all_tasks_blocked


def test_handles_close_as_context_managers() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(4)
        with tx:
            await tx.send(1)
        async with rx.clone() as rx2:
            assert await rx2.recv() == 1
        with pytest.raises(ClosedResourceError):
            await rx2.recv()
        with pytest.raises(EndOfChannel):
            await rx.recv()
        tx2, rx3 = runtime.channel(1)
        await tx2.aclose()
        await rx3.aclose()

    runtime.run(main())


def test_unbounded_channel_never_waits() -> None:
    async def main() -> int:
        tx, rx = runtime.channel(math.inf)
        for i in range(10_000):
            tx.try_send(i)
        tx.close()
        return sum([x async for x in rx])

    assert runtime.run(main()) == sum(range(10_000))


def test_bad_capacity() -> None:
    with pytest.raises(ValueError):
        runtime.channel(-1)
    with pytest.raises(TypeError):
        runtime.channel(2.5)
    with pytest.raises(TypeError):
        runtime.channel(True)


def test_a_hot_sender_yields_once_its_budget_is_spent() -> None:
    async def main() -> list[str]:
        tx, _rx = runtime.channel(math.inf)
        ran: list[str] = []

        async def other() -> None:
            ran.append("other")

        await runtime.yield_now()
        runtime.spawn(other())
        for i in range(100):
            await tx.send(i)  # ready: no trip through the scheduler
        assert ran == []
        for i in range(100):
            await tx.send(i)
        return ran

    assert runtime.run(main()) == ["other"]


async def _served_then_cancelled(operation: Callable[[], Awaitable[Any]],
                                 serve: Callable[[], None]) -> list[Any]:
    """Park ``operation`` in a task, ``serve`` it, cancel its scope before it runs again."""
    trace: list[Any] = []
    scopes: list[CancelScope] = []

    async def waiter() -> None:
        with CancelScope() as scope:
            scopes.append(scope)
            trace.append(await operation())
            try:
                await runtime.checkpoint()
            except Cancelled:
                trace.append("Cancelled at the next checkpoint")
                raise

    async with runtime.TaskGroup() as tg:
        tg.spawn(waiter())
        await wait_all_tasks_blocked()
        serve()  # the waiter is served and woken ...
        scopes[0].cancel()  # ... and the cancel comes before it has run
    return trace


def test_a_receiver_served_before_its_cancel_keeps_the_message() -> None:
    async def main() -> tuple[list[Any], Any]:
        tx, rx = runtime.channel(0)
        trace = await _served_then_cancelled(rx.recv, lambda: tx.try_send("m"))
        with pytest.raises(WouldBlock):
            rx.try_recv()
        return trace, "nothing left"

    assert runtime.run(main()) == (["m", "Cancelled at the next checkpoint"], "nothing left")


def test_a_sender_whose_message_was_taken_before_its_cancel_returns() -> None:
    async def main() -> tuple[list[Any], list[str]]:
        tx, rx = runtime.channel(0)
        got: list[str] = []
        trace = await _served_then_cancelled(lambda: tx.send("m"),
                                             lambda: got.append(rx.try_recv()))
        return trace, got

    assert runtime.run(main()) == ([None, "Cancelled at the next checkpoint"], ["m"])


def test_a_receiver_cancelled_while_parked_leaves_the_message_to_the_next() -> None:
    async def main() -> tuple[bool, str]:
        tx, rx = runtime.channel(0)
        async with runtime.TaskGroup() as tg:
            first = tg.spawn(rx.recv())
            await wait_all_tasks_blocked()
            second = tg.spawn(rx.recv())
            await wait_all_tasks_blocked()
            first.abort()  # its abort callback takes it out of the queue at once
            tx.try_send("only one")
        with pytest.raises(Cancelled):
            await first
        return first.is_finished(), await second

    assert runtime.run(main()) == (True, "only one")


def test_cancelled_send_leaves_nothing_behind() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(0)
        with runtime.move_on_after(0.005):
            await tx.send("never")
        with pytest.raises(WouldBlock):
            rx.try_recv()
        assert "buffered=0" in repr(tx)

    runtime.run(main())


def test_receive_timeout_then_the_message_still_arrives() -> None:
    async def main() -> str:
        tx, rx = runtime.channel(1)
        with runtime.move_on_after(0.005) as scope:
            await rx.recv()
        assert scope.cancelled_caught

        async def later() -> None:
            await runtime.sleep(0.005)
            await tx.send("late")

        runtime.spawn(later())
        return await rx.recv()  # type: ignore[no-any-return]

    assert runtime.run(main()) == "late"


def test_fan_in_and_fan_out_with_clones() -> None:
    async def main() -> list[int]:
        tx, rx = runtime.channel(3)
        out = []

        async def producer(sender: runtime.Sender[int], base: int) -> None:
            with sender:
                for i in range(100):
                    await sender.send(base + i)

        async def consumer(receiver: runtime.Receiver[int]) -> None:
            with receiver:
                async for x in receiver:
                    out.append(x)
                    await runtime.yield_now()

        async with runtime.TaskGroup() as tg:
            for _ in range(3):
                tg.spawn(consumer(rx.clone()))
            for p in range(5):
                tg.spawn(producer(tx.clone(), p * 1000))
            tx.close()
            rx.close()
        return sorted(out)

    assert runtime.run(main()) == sorted(p * 1000 + i for p in range(5) for i in range(100))


def test_runtime_channel_is_the_function_after_the_package_is_imported() -> None:
    # Importing runtime.channels binds the package, not a module named
    # channel, so the lazily exported function is never shadowed (fresh
    # interpreter, so no earlier import decides it).
    code = (
        "import runtime\n"
        "from runtime.channels import Sender\n"
        "import runtime.channels.mpsc\n"
        "tx, rx = runtime.channel(1)\n"
        "assert isinstance(tx, Sender)\n"
        "assert callable(runtime.channel) and not isinstance(runtime.channel, type(runtime))\n"
        "from runtime import channel\n"
        "assert channel(0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
