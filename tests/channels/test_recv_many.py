"""Receiver.recv_many: one wait, then every ready message up to the limit."""

from __future__ import annotations

import pytest

import runtime


def test_it_waits_for_the_first_then_takes_what_is_ready_up_to_the_limit() -> None:
    async def main() -> list[list[int]]:
        tx, rx = runtime.channel(16)
        got: list[list[int]] = []

        async def consumer() -> None:
            got.append(await rx.recv_many(3))  # parks: nothing sent yet

        async with runtime.TaskGroup() as tg:
            tg.spawn(consumer())
            await runtime.sleep(0.01)
            for i in range(5):
                tx.try_send(i)
        got.append(await rx.recv_many(10))
        tx.close()
        with pytest.raises(runtime.EndOfChannel):
            await rx.recv_many(3)
        return got

    # The parked consumer is handed 0 and, when it runs, takes the two that
    # are ready by then up to its limit of 3; 3 and 4 stay for the next call.
    assert runtime.run(main()) == [[0, 1, 2], [3, 4]]


def test_a_limit_below_one_is_a_value_error() -> None:
    async def main() -> None:
        _, rx = runtime.channel(1)
        with pytest.raises(ValueError, match="limit"):
            await rx.recv_many(0)

    runtime.run(main())


def test_a_cancelled_recv_many_loses_no_message() -> None:
    async def main() -> list[int]:
        tx, rx = runtime.channel(4)
        with runtime.move_on_after(0.01):
            await rx.recv_many(4)  # cancelled while parked
        tx.try_send(7)
        tx.try_send(8)
        return await rx.recv_many(4)

    assert runtime.run(main()) == [7, 8]
