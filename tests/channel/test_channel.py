"""runtime.channel details the side-by-side scenarios don't cover.

Handles as context managers, unbounded capacity, the ready path's budget,
and the give-back paths: a receiver served and then interrupted puts the
message back in front; a sender whose message was already taken reports
success even if `Cancelled` arrives (reached by stepping coroutines by hand).
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import runtime
from runtime import Cancelled, ClosedResourceError, EndOfChannel, WouldBlock
from runtime.executor.traps import PARK


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


def test_served_receiver_interrupted_puts_the_message_back_in_front() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(2)
        coro = rx.recv()  # stepped by hand: it parks on the empty channel
        assert coro.send(None) is PARK
        tx.try_send("first")  # handed straight to the parked receiver
        tx.try_send("second")
        with pytest.raises(ValueError):
            coro.throw(ValueError("interrupted after being served"))
        assert rx.try_recv() == "first"
        assert rx.try_recv() == "second"

    runtime.run(main())


def test_put_back_goes_to_the_next_parked_receiver() -> None:
    async def main() -> str:
        tx, rx = runtime.channel(0)
        coro = rx.recv()
        assert coro.send(None) is PARK
        other = runtime.spawn(rx.recv())
        await runtime.sleep(0.001)  # queued behind the hand-stepped receiver
        tx.try_send("only one")
        with pytest.raises(ValueError):
            coro.throw(ValueError("interrupted after being served"))
        return await other  # type: ignore[no-any-return]

    assert runtime.run(main()) == "only one"


def test_sender_whose_message_was_taken_reports_success_on_cancel() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(0)
        coro = tx.send("m")
        assert coro.send(None) is PARK
        assert rx.try_recv() == "m"  # taken: the send has happened
        with pytest.raises(StopIteration):
            coro.throw(Cancelled("arrived too late"))
        # Anything but Cancelled (GeneratorExit when a task is destroyed) is re-raised.
        coro2 = tx.send("n")
        assert coro2.send(None) is PARK
        assert rx.try_recv() == "n"
        with pytest.raises(GeneratorExit):
            coro2.throw(GeneratorExit())

    runtime.run(main())


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


def test_runtime_channel_stays_callable_after_the_submodule_is_imported() -> None:
    # Importing runtime.channel binds the module over the lazily re-exported
    # function in the package; the module forwards calls (fresh interpreter).
    code = (
        "import runtime\n"
        "from runtime.channel import Sender\n"
        "tx, rx = runtime.channel(1)\n"
        "assert isinstance(tx, Sender)\n"
        "from runtime import channel\n"
        "assert channel(0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
